"""Which tokens of a rendered Thyme conversation carry loss.

The model must learn what it writes (reasoning, code, answer, the closing `<|im_end|>`),
never what the world writes back to it. So the system and user turns, every image token,
and everything the sandbox returned (`<sandbox_output>` ... `</sandbox_output>`, tags
included, text or images) get label -100. The reference's ablation (research/thyme.md
section 3) credits masking the sandbox with +8 points on Hallucination over naive SFT.

With `train_rounds="last"` (the reference's default), a response with two or more
sandbox outputs is learned only after the second-to-last `</sandbox_output>`: the final
code round and the answer. Earlier rounds are often the ones that went wrong and were
corrected, and learning them hurt in the ablation. `"all"` learns every round.

The rules work on characters of the rendered text, then map to tokens through the fast
tokenizer's offsets, so they hold for any tokenizer: one where `<sandbox_output>` is a
single added token (our tiny one) or one that splits it into pieces (Qwen's).
A token that straddles a trainable and a masked character is masked: we would rather lose
one token of signal than teach the model to emit part of a sandbox tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

IGNORE_INDEX = -100  # what torch's cross_entropy skips (ignore_index default)

SANDBOX_OPEN = "<sandbox_output>"
SANDBOX_CLOSE = "</sandbox_output>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"

Span = tuple[int, int]  # [start, end) in characters


def masked_spans(text: str, start: int, end: int, train_rounds: str = "last") -> list[Span]:
    """Character spans inside the response `text[start:end]` that carry no loss.

    A `<sandbox_output>` left open runs to the end of the response (a converted row has
    balanced tags; a broken one must still not leak tool text into the loss).

    >>> t = "A<sandbox_output>x</sandbox_output>B<sandbox_output>y</sandbox_output>C"
    >>> masked_spans(t, 0, len(t), "all")
    [(1, 35), (36, 70)]
    >>> masked_spans(t, 0, len(t), "last")   # up to the second-to-last close, then round 2
    [(0, 35), (36, 70)]
    """
    if train_rounds not in ("last", "all"):
        raise ValueError(f"train_rounds must be 'last' or 'all', got {train_rounds!r}")
    spans: list[Span] = []
    closes: list[int] = []  # end offset of each </sandbox_output>
    pos = start
    while (open_at := text.find(SANDBOX_OPEN, pos, end)) != -1:
        close_at = text.find(SANDBOX_CLOSE, open_at + len(SANDBOX_OPEN), end)
        stop = end if close_at == -1 else close_at + len(SANDBOX_CLOSE)
        spans.append((open_at, stop))
        closes.append(stop)
        pos = stop
    # image blocks outside a sandbox output would be odd in a response, but are never learned
    pos = start
    while (v := text.find(VISION_START, pos, end)) != -1:
        v_end = text.find(VISION_END, v, end)
        stop = end if v_end == -1 else v_end + len(VISION_END)
        spans.append((v, stop))
        pos = stop
    if train_rounds == "last" and len(closes) >= 2:
        spans.append((start, closes[-2]))
    return _merge(spans)


def trainable_spans(text: str, start: int, end: int, train_rounds: str = "last") -> list[Span]:
    """The response `text[start:end]` minus `masked_spans`: what the model learns to write.

    >>> t = "Q?<think>crop<sandbox_output>IMG</sandbox_output>ok</think>"
    >>> [t[a:b] for a, b in trainable_spans(t, 2, len(t))]
    ['<think>crop', 'ok</think>']
    """
    out: list[Span] = []
    cursor = start
    for a, b in masked_spans(text, start, end, train_rounds):
        if a > cursor:
            out.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        out.append((cursor, end))
    return out


def labels_from_offsets(
    input_ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    spans: Iterable[Span],
    never_learn_ids: Iterable[int] = (),
) -> list[int]:
    """Labels for causal-LM loss: the token id where the token lies wholly inside a
    trainable span, -100 elsewhere. Token ids in `never_learn_ids` (image pads, vision
    start/end) are -100 wherever they are. The model shifts labels itself.

    Worked example, one token per character except the two-character "ok" and the tag
    token `<s>` standing for a sandbox tag:

        text     "a b <s> ok"      offsets (0,1) (2,3) (4,7) (8,10)
        ids       11 12  90  13
        spans    [(0, 3), (8, 10)]  -> the sandbox tag (4,7) is outside every span

    >>> labels_from_offsets([11, 12, 90, 13], [(0, 1), (2, 3), (4, 7), (8, 10)], [(0, 3), (8, 10)])
    [11, 12, -100, 13]

    A token that straddles a span edge is masked, and so is an image pad inside a span:

    >>> labels_from_offsets([11, 12, 7], [(0, 2), (2, 4), (4, 5)], [(1, 5)], never_learn_ids=[7])
    [-100, 12, -100]
    """
    if len(input_ids) != len(offsets):
        raise ValueError(f"{len(input_ids)} token ids but {len(offsets)} offsets")
    spans = sorted(spans)
    banned = set(never_learn_ids)
    labels: list[int] = []
    j = 0
    for tok, (a, b) in zip(input_ids, offsets):
        while j < len(spans) and spans[j][1] <= a:  # offsets only grow, so one pass
            j += 1
        inside = j < len(spans) and spans[j][0] <= a and b <= spans[j][1] and b > a
        labels.append(int(tok) if inside and tok not in banned else IGNORE_INDEX)
    return labels


def masked_fraction(labels: Sequence[int]) -> float:
    """Share of tokens that carry no loss (a per-step metric: a jump means a data problem)."""
    return sum(1 for x in labels if x == IGNORE_INDEX) / max(1, len(labels))


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
