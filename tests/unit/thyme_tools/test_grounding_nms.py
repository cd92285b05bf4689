"""GroundingDINO's post-processing: NMS at OpenThinkIMG's IoU 0.8 and its caption convention."""

import numpy as np

from thyme_tools.models import grounding


def test_nms_keeps_the_best_of_overlapping_boxes_and_all_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 9.5], [0, 0, 10, 5], [20, 20, 30, 30]], dtype=float)
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    # box 0 overlaps the better box 1 at IoU 0.95 > 0.8; box 2 only at ~0.53
    assert grounding.nms(boxes, scores) == [1, 2, 3]


def test_caption_is_lower_case_and_ends_with_a_period():
    assert grounding.caption_of(" The Red Bar ") == "the red bar."
    assert grounding.caption_of("cat.") == "cat."
