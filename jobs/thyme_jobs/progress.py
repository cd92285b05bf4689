"""Progress lines: how a stage program tells a person (and `thyme run`) where it is.

One log line per unit of progress, readable as it is in `kubectl logs` and parsed by
the local executor into a progress bar (`thyme_cli.stage_output`):

    2026-01-01 12:00:00,000 INFO thyme_jobs.progress: sft phase 1 12/40 | loss=0.1833 tokens/s=1520

The label names what advances, `done/total` how far it is, and the fields after `|`
are the few numbers that say whether it goes well (loss, reward, ...). The format is
the contract; `parse` is its one reader.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

LOGGER = "thyme_jobs.progress"
log = logging.getLogger(LOGGER)

_LINE = re.compile(re.escape(LOGGER) + r": (?P<label>.+?) (?P<done>\d+)/(?P<total>\d+)(?: \| (?P<fields>.*))?$")


@dataclass(frozen=True)
class Progress:
    label: str
    done: int
    total: int
    fields: str = ""


def report(label: str, done: int, total: int, **fields: float | int | str | None) -> None:
    """Log one progress line; None fields are left out, floats get 4 significant digits."""
    shown = " ".join(f"{name.replace('_per_', '/')}={_fmt(value)}" for name, value in fields.items() if value is not None)
    log.info("%s %d/%d%s", label, done, total, f" | {shown}" if shown else "")


def parse(line: str) -> Progress | None:
    """The progress a log line reports, or None for any other line."""
    match = _LINE.search(line.rstrip())
    if match is None:
        return None
    return Progress(match["label"], int(match["done"]), int(match["total"]), match["fields"] or "")


def _fmt(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
