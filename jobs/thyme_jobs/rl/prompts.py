"""The prompts RL trains on: converted rows (docs/contracts.md), picked per step.

RL reads the same rows as SFT. A row's question (with its `<image>` placeholders) and
its input images, the first `question.count("<image>")` entries of `images`, make the
prompt; the `<answer>` of its response is the ground truth. The rest of the response
(the demonstrated tool calls) is not used: the policy explores its own.

Which rows a step uses depends only on the seed and the step, so a resumed run picks up
exactly where it stopped.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

from thyme_jobs import store as stores
from thyme_jobs.rl.rewards import reference_answer
from thyme_jobs.agent.loop import IMAGE, Trajectory


class DataError(RuntimeError):
    """The converted data is missing or unusable; the message names the split and key."""


def read_rows(run: stores.ArtifactStore, splits: list[str]) -> list[dict[str, Any]]:
    """Every accepted row of the splits, in manifest order (text only; images stay in the store)."""
    rows = []
    for split in splits:
        key = stores.join("data", split, "manifest.json")
        if not run.exists(key):
            raise DataError(f"split {split!r} has no {run.location(key)}: run the convert stage first")
        for jsonl in stores.get_json(run, key).get("jsonl", []):
            rows.extend(_jsonl(run, jsonl))
    if not rows:
        raise DataError(f"splits {splits} hold no rows")
    return rows


def _jsonl(run: stores.ArtifactStore, key: str) -> Iterator[dict[str, Any]]:
    for line in run.get_bytes(key).decode().splitlines():
        if line.strip():
            yield json.loads(line)


def step_rows(n_rows: int, step: int, batch_size: int, seed: int) -> list[int]:
    """Row indices of a step: epochs of seeded shuffles read in order, so every row is
    used once per epoch whatever the batch size."""
    out = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, index = divmod(position, n_rows)
        order = list(range(n_rows))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        out.append(order[index])
    return out


def trajectories_for(
    run: stores.ArtifactStore, rows: list[dict[str, Any]], step: int, num_generations: int, first_group: int = 0
) -> list[Trajectory]:
    """`num_generations` fresh trajectories per row, a group next to each other.

    An id names the step, the group's position in it (`first_group` is that of `rows[0]`,
    which differs per rank) and the generation, so it is unique within the step (each id is
    a sandbox session) even when a row is drawn twice, as at an epoch boundary.
    """
    out = []
    for offset, row in enumerate(rows):
        n_inputs = row["question"].count(IMAGE)
        images = [run.get_bytes(key) for key in row.get("images", [])[:n_inputs]]
        truth = reference_answer(row.get("response", ""))
        for g in range(num_generations):
            tid = f"s{step}-p{first_group + offset}-{row['id']}-g{g}".replace("/", "_")
            out.append(Trajectory(tid, row["id"], row["question"], images, truth))
    return out
