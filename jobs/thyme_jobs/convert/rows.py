"""Row checks and the "User Image Path" rule. Pure: strings in, strings out.

The rule (README §2.3 of the Thyme repository, our docs/contracts.md "User Image Path"):
the released questions embed paths from the authors' machines, e.g.

    ### User Image Path:** "/mllm_hdd/yfzhang/data/temp_processed_images/x_0000001.png"

After conversion the image lives elsewhere, so:

1. The quoted path after "User Image Path" becomes the stored location of image[0]:
   the absolute local path or the `s3://` URI that `store.location(key)` gives.
2. In the response, an absolute path whose file name is the input image's file name
   (the name in the question's path) is rewritten to the same location; code in the
   response often opens the input by that path.
3. Paths under the sandbox's output prefix `/mnt/data/temp_processed_images/` stay as
   they are: the model was trained to write there, and the sandbox maps that prefix.

>>> q = 'see\\n### User Image Path:** "/mllm_hdd/a/cat.png"\\n'
>>> r = 'open("/mllm_hdd/a/cat.png") then save "/mnt/data/temp_processed_images/cat.png"'
>>> apply_image_path_rule(q, r, "/runs/x/data/s/images/cat.jpg")[1]
'open("/runs/x/data/s/images/cat.jpg") then save "/mnt/data/temp_processed_images/cat.png"'

Checks: `<code>`/`</code>` and `<sandbox_output>`/`</sandbox_output>` open and close in
turn (no nesting, nothing left open), and the `<image>` tags in question and response
number exactly as many as the row's images, since the trainer pairs them one to one.
"""

from __future__ import annotations

import re

SANDBOX_OUTPUT_PREFIX = "/mnt/data/temp_processed_images/"
PAIRED_TAGS = ("code", "sandbox_output")
IMAGE_TAG = "<image>"

_USER_IMAGE_PATH = re.compile(r'(User Image Path:\*{0,2}\s*")([^"\n]*)(")')
# An absolute path token: starts at "/" not preceded by a path or word character.
_ABSOLUTE_PATH = re.compile(r"(?<![\w/.:~-])/[^\s\"'`<>()\[\]{},;]+")


class RowRejected(ValueError):
    """The row cannot be used; the message says why, for the rejects file."""


def tag_problems(text: str) -> list[str]:
    """What is wrong with the paired tags of `text` (empty when they are balanced)."""
    problems = []
    for tag in PAIRED_TAGS:
        depth = 0
        for match in re.finditer(rf"<(/?){tag}>", text):
            depth += -1 if match.group(1) else 1
            if depth not in (0, 1):
                problems.append(f"<{tag}> tags are nested or closed before they open")
                break
        else:
            if depth:
                problems.append(f"<{tag}> is opened and never closed")
    return problems


def check_row(question: str, response: str, image_count: int) -> None:
    """Raise RowRejected unless the tags are balanced and `<image>` tags match the images."""
    if image_count == 0:
        raise RowRejected("row has no images")
    problems = tag_problems(question) + tag_problems(response)
    if problems:
        raise RowRejected("; ".join(problems))
    tags = question.count(IMAGE_TAG) + response.count(IMAGE_TAG)
    if tags != image_count:
        raise RowRejected(f"{tags} <image> tags in question and response for {image_count} images")


def check_rl_row(question: str, answer: str, image_count: int) -> None:
    """Raise RowRejected unless an RL row has images, one `<image>` per image in its prompt,
    and a ground truth to score against."""
    if image_count == 0:
        raise RowRejected("row has no images")
    if not question.strip():
        raise RowRejected("row has no question")
    tags = question.count(IMAGE_TAG)
    if tags != image_count:
        raise RowRejected(f"{tags} <image> tags in the prompt for {image_count} images")
    if not answer.strip():
        raise RowRejected("row has no ground truth (solution / reward_model.ground_truth is empty)")


def input_image_name(question: str) -> str | None:
    """The file name in the question's "User Image Path", if it has one."""
    match = _USER_IMAGE_PATH.search(question)
    if not match:
        return None
    name = match.group(2).rstrip("/").rsplit("/", 1)[-1]
    return name or None


def apply_image_path_rule(question: str, response: str, image0_location: str) -> tuple[str, str]:
    """Point the question's "User Image Path" and the response's input-image paths at image[0]."""
    name = input_image_name(question)
    question = _USER_IMAGE_PATH.sub(lambda m: m.group(1) + image0_location + m.group(3), question, count=1)
    if name is None:
        return question, response

    def rewrite(match: re.Match[str]) -> str:
        path = match.group(0)
        if path.startswith(SANDBOX_OUTPUT_PREFIX) or path.rsplit("/", 1)[-1] != name:
            return path
        return image0_location

    return question, _ABSOLUTE_PATH.sub(rewrite, response)
