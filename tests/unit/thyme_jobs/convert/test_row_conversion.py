"""The per-row transform: all of a row's images or none, the path rule applied, rejects that say why."""

from __future__ import annotations

import base64
import io

from PIL import Image

from thyme_jobs.convert import transform


def _b64(fmt: str, mode: str = "RGB") -> str:
    buf = io.BytesIO()
    Image.new(mode, (64, 48), "red" if mode != "L" else 128).save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def _task(images: list[str], response: str = "<code>c</code><sandbox_output><image></sandbox_output>") -> transform.RowTask:
    keys = [transform.image_key("2round", "2round-00000-of-00001", 5, i) for i in range(len(images))]
    return transform.RowTask(
        split="2round", stem="2round-00000-of-00001", row_in_file=5, row_in_split=17, images=images,
        question='<image>\nq\n### User Image Path:** "/mllm_hdd/x/pic.png"\n', response=response,
        image_keys=keys, image0_location="/run/" + keys[0])


def test_good_row_returns_every_image_and_the_rewritten_row() -> None:
    result = transform.convert_row(_task([_b64("JPEG"), _b64("PNG", "RGBA")]))
    assert result.reject is None and result.reencoded == 1
    assert [f.key for f in result.files] == ["data/2round/images/2round-00000-of-00001/00000005_00.jpg",
                                            "data/2round/images/2round-00000-of-00001/00000005_01.jpg"]
    assert result.row["id"] == "2round/2round-00000-of-00001/5"
    assert result.row["images"] == [f.key for f in result.files]
    assert '"/run/data/2round/images/2round-00000-of-00001/00000005_00.jpg"' in result.row["question"]


def test_one_broken_image_rejects_the_row_and_stores_nothing() -> None:
    result = transform.convert_row(_task([_b64("JPEG"), "!!"]))
    assert result.row is None and result.files == []
    reason = result.reject.pop("reason")
    assert result.reject == {"id": "2round/2round-00000-of-00001/5", "split": "2round", "row": 17,
                             "file": "2round-00000-of-00001", "row_in_file": 5}
    assert reason.startswith("image 1: bad base64")


def test_tag_problems_reject_before_any_image_is_decoded() -> None:
    result = transform.convert_row(_task([_b64("JPEG"), _b64("JPEG")], response="<code>never closed <image>"))
    assert result.files == [] and "<code> is opened and never closed" in result.reject["reason"]
