"""A tiny language model and hand-made trajectories for GRPO tests (unit, and the multi-rank component tests)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from thyme_jobs.rl import grpo


class TinyLM(torch.nn.Module):
    """Embedding -> GRU -> vocabulary: enough context dependence for a policy-gradient test."""

    def __init__(self, vocab: int = 12, width: int = 16) -> None:
        super().__init__()
        self.config = SimpleNamespace(hidden_size=width)  # DeepSpeed sizes its buckets from it
        self.embed = torch.nn.Embedding(vocab, width)
        self.rnn = torch.nn.GRU(width, width, batch_first=True)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        hidden, _ = self.rnn(self.embed(input_ids))
        return SimpleNamespace(logits=self.head(hidden))


def trajectory(tokens: list[int], prompt_len: int, masked: tuple[int, ...] = ()) -> grpo.EncodedTrajectory:
    mask = torch.tensor([i >= prompt_len and i not in masked for i in range(len(tokens))])
    return grpo.EncodedTrajectory(torch.tensor(tokens), mask)


def two_groups() -> tuple[list[grpo.EncodedTrajectory], torch.Tensor]:
    """Two prompts' groups of two: (good, bad) and (a sandbox-masked one, one with no policy tokens)."""
    batch = [
        trajectory([1, 2, 3, 4, 5, 6, 7], 3),
        trajectory([1, 2, 3, 8, 9, 10, 11], 3),
        trajectory([2, 1, 3, 8, 9, 10, 11], 3, masked=(4, 5)),
        trajectory([2, 1, 3], 3),
    ]
    return batch, torch.tensor([1.0, 0.0, 0.5, 0.0])  # rewards
