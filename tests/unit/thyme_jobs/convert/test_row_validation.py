"""Row checks: balanced code and sandbox tags, one <image> tag per image."""

from __future__ import annotations

import pytest

from thyme_jobs.convert import rows

GOOD = "<think><code>x</code><sandbox_output><image></sandbox_output></think><answer>A</answer>"


def test_balanced_row_with_matching_image_count_passes() -> None:
    rows.check_row("<image>\nq", GOOD, 2)


@pytest.mark.parametrize(("response", "reason"), [
    ("<code>x<sandbox_output><image></sandbox_output>", "<code> is opened and never closed"),
    ("</code><code>", "<code> tags are nested or closed before they open"),
    ("<code><code>x</code></code><image>", "<code> tags are nested or closed before they open"),
    ("<code>x</code><sandbox_output><image>", "<sandbox_output> is opened and never closed"),
    ("<sandbox_output></sandbox_output></sandbox_output><image>", "<sandbox_output> tags are nested"),
])
def test_unbalanced_tags_are_rejected_with_the_tag_named(response: str, reason: str) -> None:
    with pytest.raises(rows.RowRejected, match=reason):
        rows.check_row("<image>", response, 2)


@pytest.mark.parametrize(("question", "response", "images"), [
    ("<image>", GOOD, 1),
    ("<image>", GOOD, 3),
    ("q", "<answer>A</answer>", 1),
])
def test_image_tag_count_must_equal_image_count(question: str, response: str, images: int) -> None:
    with pytest.raises(rows.RowRejected, match="<image> tags in question and response for"):
        rows.check_row(question, response, images)


def test_row_without_images_is_rejected() -> None:
    with pytest.raises(rows.RowRejected, match="no images"):
        rows.check_row("q", "a", 0)
