"""What `thyme run` shows of a stage: its own lines and progress on the console, library output not."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from thyme_cli import stage_display

STAGE_LINES = [
    b"Loading checkpoint shards: 100%|##########| 1/1 [00:00<00:00]\r\n",
    b"[2026-01-01 12:00:00,000] [WARNING] [real_accelerator.py:209:get_accelerator] Setting accelerator to CPU.\n",
    b"/venv/lib/python3.11/site-packages/torch/utils/checkpoint.py:87: UserWarning: None of the inputs have grad\n",
    b"{'loss': '0.1833', 'grad_norm': '1.52', 'learning_rate': '0.003', 'epoch': '1.0'}\n",
    b"2026-01-01 12:00:01,000 INFO thyme_jobs.progress: sft phase 1/2 1/100 | loss=2.5 tokens/s=900\n",
    b"2026-01-01 12:00:02,000 INFO thyme_jobs.sft.train: checkpoint sft/checkpoints/00000001 committed\n",
    b"2026-01-01 12:00:03,000 WARNING transformers.modeling_utils: Some weights were not initialized\n",
    *(f"2026-01-01 12:00:04,000 INFO thyme_jobs.progress: sft phase 1/2 {n}/100 | loss=0.5\n".encode()
      for n in range(2, 101)),
    b"thyme sft: split 'math': no /store/data/math/manifest.json; run the convert stage first\n",
]


def _show(lines: list[bytes], failed: bool) -> str:
    console = Console(file=io.StringIO(), width=200)   # not a terminal: progress as lines
    shown = stage_display.StageDisplay(console, "sft")
    for raw in lines:
        shown.feed(raw)
    shown.close(failed, Path("/store/logs/run/run-sft-1.log"))
    return console.file.getvalue()


def test_library_output_stays_in_the_log_and_our_lines_reach_the_console():
    printed = _show(STAGE_LINES, failed=False)       # (stage_output writes every line to the log)
    for noise in ("Loading checkpoint shards", "real_accelerator", "UserWarning", "'grad_norm'", "were not initialized"):
        assert noise not in printed
    assert "sft: checkpoint sft/checkpoints/00000001 committed" in printed
    assert "thyme sft: split 'math'" in printed
    # 100 progress lines become one per tenth of the way (and the first)
    progress = [ln for ln in printed.splitlines() if "sft phase 1/2" in ln]
    assert 5 <= len(progress) <= 12 and progress[-1].strip().startswith("sft phase 1/2 100/100")


def test_a_failed_stage_shows_its_last_lines_and_names_its_error():
    traceback = [b"Traceback (most recent call last):\n", b'  File "x.py", line 1, in <module>\n',
                 b"RuntimeError: CUDA error: out of memory\n"]
    printed = _show(STAGE_LINES[:3] + traceback, failed=True)
    assert "sft failed" in printed and "RuntimeError: CUDA error: out of memory" in printed
    assert "Traceback (most recent call last)" in printed
