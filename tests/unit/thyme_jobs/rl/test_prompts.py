"""Which rows a step trains on, and how a row becomes a prompt group."""

from __future__ import annotations

import json

from thyme_jobs import store as stores
from thyme_jobs.rl import prompts


def test_every_row_is_used_once_per_epoch_and_resume_picks_the_same_rows() -> None:
    picked = [i for step in range(5) for i in prompts.step_rows(10, step, 2, seed=3)]
    assert sorted(picked) == list(range(10))
    assert prompts.step_rows(10, 7, 2, seed=3) == prompts.step_rows(10, 7, 2, seed=3)


def test_rows_become_groups_with_the_input_images_and_the_answer(tmp_path) -> None:
    run = stores.open_store(str(tmp_path))
    run.put_bytes("data/s/images/a.jpg", b"A")
    run.put_bytes("data/s/images/a_1.jpg", b"crop")
    row = {"id": "s/f/0", "split": "s", "images": ["data/s/images/a.jpg", "data/s/images/a_1.jpg"],
           "question": "<image>\nWhat?", "response": "<think>..<sandbox_output><image></sandbox_output></think><answer>7</answer>"}
    run.put_bytes("data/s/shards/0/rows.jsonl", (json.dumps(row) + "\n").encode())
    stores.put_json(run, "data/s/manifest.json", {"jsonl": ["data/s/shards/0/rows.jsonl"], "rows": 1, "rejected": 0})
    rows = prompts.read_rows(run, ["s"])
    group = prompts.trajectories_for(run, rows, step=3, num_generations=2)
    assert [t.id for t in group] == ["s3-p0-s_f_0-g0", "s3-p0-s_f_0-g1"]
    assert all(t.input_images == [b"A"] and t.truth == "7" and t.prompt_id == "s/f/0" for t in group)
    # the same row drawn twice in a step (or by two ranks) gets distinct sandbox sessions
    twice = prompts.trajectories_for(run, rows + rows, step=3, num_generations=1, first_group=4)
    assert [t.id for t in twice] == ["s3-p4-s_f_0-g0", "s3-p5-s_f_0-g0"]


def test_a_missing_split_says_to_run_convert(tmp_path) -> None:
    import pytest

    with pytest.raises(prompts.DataError, match="run the convert stage"):
        prompts.read_rows(stores.open_store(str(tmp_path)), ["nope"])
