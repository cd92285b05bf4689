"""Loss masking, token by token, on real converted rows rendered and tokenized by the tiny model's processor."""

from __future__ import annotations

import re

import pytest

from thyme_jobs.modelio import formatting
from thyme_jobs.sft import data, masking

from unit.thyme_jobs.sft import sft_fixtures

IMG = "<|vision_start|>" + "<|image_pad|>" + "<|vision_end|>"


@pytest.fixture(scope="module")
def processor():
    from thyme_jobs import tinymodel

    return tinymodel.build_processor()


@pytest.fixture(scope="module")
def rows():
    return {split: rs[0] for split, rs in sft_fixtures.rows_by_split().items()}


def _images(n):
    import io

    from PIL import Image

    return [Image.open(io.BytesIO(sft_fixtures.jpeg((200, 30, 30), k))).convert("RGB") for k in range(n)]


def _encode(processor, row, train_rounds="last"):
    enc = data.Encoder(processor, "SYS", 4096, train_rounds, 3136, 224 * 224)
    row = {**row, "id": "r", "images": ["x"] * row["n_images"]}
    return enc, enc.encode(row, _images(row["n_images"]))


def _learned_text(processor, item) -> str:
    """Decode each run of labelled tokens; runs joined by '|' so gaps are visible."""
    runs, cur = [], []
    for tok, lab in zip(item["input_ids"], item["labels"]):
        if lab == masking.IGNORE_INDEX:
            if cur:
                runs.append(cur)
                cur = []
        else:
            assert lab == tok, "a labelled position must predict its own token (the model shifts)"
            cur.append(tok)
    if cur:
        runs.append(cur)
    return "|".join(processor.tokenizer.decode(r, skip_special_tokens=False) for r in runs)


def _without_sandbox(text: str) -> list[str]:
    return re.split(r"<sandbox_output>.*?</sandbox_output>", text, flags=re.S)


def test_image_sandbox_output_and_prompt_carry_no_loss(processor, rows):
    row = rows["wo_thinking_thyme_single_round"]
    _, item = _encode(processor, row)
    before, after = _without_sandbox(row["response"])
    assert _learned_text(processor, item) == before + "|" + after + "<|im_end|>"


def test_text_sandbox_output_carries_no_loss(processor, rows):
    row = rows["computation"]
    _, item = _encode(processor, row)
    learned = _learned_text(processor, item)
    assert "0.6667</sandbox_output>" not in learned and "So the fraction is 0.6667." in learned
    before, after = _without_sandbox(row["response"])
    assert learned == before + "|" + after + "<|im_end|>"


def test_last_round_only_masks_earlier_rounds(processor, rows):
    row = rows["2round"]
    _, item = _encode(processor, row, "last")
    parts = _without_sandbox(row["response"])
    assert len(parts) == 3
    assert _learned_text(processor, item) == parts[1] + "|" + parts[2] + "<|im_end|>"


def test_all_rounds_learns_every_round(processor, rows):
    row = rows["2round"]
    _, item = _encode(processor, row, "all")
    assert _learned_text(processor, item) == "|".join(_without_sandbox(row["response"])) + "<|im_end|>"


def test_every_image_token_and_prompt_token_is_masked(processor, rows):
    tok = processor.tokenizer
    vision_ids = {tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|vision_start|>", "<|vision_end|>")}
    for row in rows.values():
        _, item = _encode(processor, row, "all")  # "all": the first learned token ends the prompt
        ids, labels = item["input_ids"], item["labels"]
        pads = [i for i, t in enumerate(ids) if t == tok.convert_tokens_to_ids("<|image_pad|>")]
        # 56x56 -> 4x4 patches -> 2x2 merged = 4 tokens per image, one block per image
        assert len(pads) == 4 * row["n_images"]
        assert all(labels[i] == masking.IGNORE_INDEX for i, t in enumerate(ids) if t in vision_ids)
        # the whole system and user turns, and the "<|im_start|>assistant\n" header, are masked
        first = next(i for i, lab in enumerate(labels) if lab != masking.IGNORE_INDEX)
        prompt = tok.decode(ids[:first], skip_special_tokens=False)
        assert prompt.startswith("<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n")
        assert prompt.endswith("<|im_start|>assistant\n")
        assert prompt.count("<|image_pad|>") == 4  # the user's image, expanded


def test_thyme_tags_are_single_tokens(processor):
    tok = processor.tokenizer
    for tag in ("<think>", "</think>", "<code>", "</code>", "<sandbox_output>", "</sandbox_output>",
                "<answer>", "</answer>"):
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1, tag
    ids = tok("<code>x</code>", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "<code>x</code>"


def test_straddling_token_is_masked_and_unclosed_sandbox_runs_to_the_end():
    text = "ab<sandbox_output>tool output never closed"
    assert masking.masked_spans(text, 0, len(text), "all") == [(2, len(text))]
    assert masking.trainable_spans(text, 0, len(text)) == [(0, 2)]
    # a token (1, 3) covering "b<" crosses into the sandbox: masked
    assert masking.labels_from_offsets([5, 6], [(0, 1), (1, 3)], [(0, 2)]) == [5, masking.IGNORE_INDEX]


def test_placeholder_count_mismatch_is_a_row_error(processor, rows):
    row = {**rows["computation"], "id": "bad/1", "images": ["a", "b"]}
    with pytest.raises(formatting.RowFormatError, match="bad/1"):
        formatting.render_row(row, None, processor.apply_chat_template)


def test_masked_fraction():
    assert masking.masked_fraction([-100, 3, -100, 4]) == 0.5
