"""The "User Image Path" rule: the question and the response point at image[0]'s stored location."""

from __future__ import annotations

import doctest

from thyme_jobs.convert import rows

QUESTION = ('<image>\nWhat is shown?\n\n### User Image Path:** "/mllm_hdd/yfzhang/data/x/cat_01.png"\n'
            '### User Image Size:** "640x480"\n')
STORED = "s3://bucket/runs/ns/r/data/s/images/f/00000000_00.jpg"


def test_question_path_becomes_image0_location() -> None:
    question, _ = rows.apply_image_path_rule(QUESTION, "", STORED)
    assert f'### User Image Path:** "{STORED}"' in question
    assert "/mllm_hdd" not in question
    assert '### User Image Size:** "640x480"' in question


def test_response_paths_naming_the_input_image_are_rewritten() -> None:
    response = 'image = Image.open("/mllm_hdd/yfzhang/data/x/cat_01.png")\nalso /other/dir/cat_01.png done'
    _, out = rows.apply_image_path_rule(QUESTION, response, STORED)
    assert out == f'image = Image.open("{STORED}")\nalso {STORED} done'


def test_sandbox_output_prefix_is_left_alone_even_with_the_input_name() -> None:
    response = 'cropped.save("/mnt/data/temp_processed_images/cat_01.png")'
    _, out = rows.apply_image_path_rule(QUESTION, response, STORED)
    assert out == response


def test_other_absolute_paths_and_urls_are_left_alone() -> None:
    response = 'open("/mllm_hdd/yfzhang/data/x/dog.png") see https://host/a/cat_01.png and x/cat_01.png'
    _, out = rows.apply_image_path_rule(QUESTION, response, STORED)
    assert out == response


def test_question_without_a_path_line_is_unchanged() -> None:
    question, response = rows.apply_image_path_rule("<image>\nhow many?", "/a/cat_01.png", STORED)
    assert (question, response) == ("<image>\nhow many?", "/a/cat_01.png")


def test_local_location_works_the_same_way() -> None:
    question, _ = rows.apply_image_path_rule(QUESTION, "", "/srv/run/data/s/images/f/00000003_00.jpg")
    assert '"/srv/run/data/s/images/f/00000003_00.jpg"' in question


def test_module_docstring_example_holds() -> None:
    assert doctest.testmod(rows).failed == 0
