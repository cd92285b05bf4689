"""What a person watching `thyme convert` sees: a live bar (rows/s, MB/s) and a closing summary.

Kept apart from the conversion so the shell stays readable and tests can run with a
silent console. In a pod (no terminal) rich draws no live bar; the rows converted go
out as progress lines (`thyme_jobs.progress`, about one a second), which `thyme run`
draws as the stage's bar, and the per-shard lines and the summary table still reach
the pod's log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from thyme_jobs import progress as progress_lines
from thyme_jobs.convert.manifests import Counts

log = logging.getLogger(__name__)
PROGRESS_EVERY_SECONDS = 1.0


class _RateColumn(ProgressColumn):
    """rows/s from the task's own speed and MB/s from the source bytes it has read."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if elapsed <= 0:
            return Text("")
        megabytes = task.fields.get("source_bytes", 0) / 1e6
        return Text(f"{task.completed / elapsed:6.1f} rows/s {megabytes / elapsed:7.1f} MB/s", style="cyan")


class ShardProgress:
    """Advances one shard's bar by rows done and source bytes read."""

    def __init__(self, progress: Progress, description: str, total: int) -> None:
        self.progress = progress
        self.task_id = progress.add_task(description, total=total, source_bytes=0)
        self.source_bytes = 0

    def __call__(self, rows: int, source_bytes: int) -> None:
        self.source_bytes += source_bytes
        self.progress.update(self.task_id, advance=rows, source_bytes=self.source_bytes)


@dataclass
class ShardLine:
    split: str
    shard: int
    counts: Counts
    seconds: float
    source_bytes: int
    skipped: bool = False


@dataclass
class Report:
    """Collects per-shard results for the closing summary."""

    console: Console = field(default_factory=lambda: Console(stderr=True, log_path=False))
    lines: list[ShardLine] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    rows_total: int = 0
    rows_done: int = 0
    _reported_at: float = 0.0

    def rows(self, done: int) -> None:
        """Count `done` more rows converted; a progress line at most every PROGRESS_EVERY_SECONDS, and at the end."""
        self.rows_done += done
        now = time.monotonic()
        if self.rows_done >= self.rows_total or now - self._reported_at >= PROGRESS_EVERY_SECONDS:
            self._reported_at = now
            seconds = max(now - self.started, 1e-9)
            progress_lines.report("convert rows", self.rows_done, self.rows_total,
                                  rows_per_s=round(self.rows_done / seconds, 1))

    def progress(self) -> Progress:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                        TimeElapsedColumn(), console=self.console, disable=not self.console.is_terminal)

    def shard_done(self, line: ShardLine) -> None:
        self.lines.append(line)
        what = "already done, skipped" if line.skipped else (
            f"{line.counts.rows} rows, {line.counts.rejected} rejected, {line.counts.images} images "
            f"({line.counts.reencoded} re-encoded) in {line.seconds:.1f}s")
        log.info("%s shard %d: %s", line.split, line.shard, what)

    def summary(self, outcome: str) -> None:
        table = Table(title=f"thyme convert: {outcome}")
        for name in ("split", "shard", "rows", "rejected", "images", "re-encoded", "MB in", "seconds", "rows/s"):
            table.add_column(name, justify="left" if name == "split" else "right")
        for ln in self.lines:
            if ln.skipped:
                table.add_row(ln.split, str(ln.shard), "skipped", "", "", "", "", "", "")
                continue
            rate = ln.counts.rows / ln.seconds if ln.seconds else 0.0
            table.add_row(ln.split, str(ln.shard), str(ln.counts.rows), str(ln.counts.rejected),
                          str(ln.counts.images), str(ln.counts.reencoded), f"{ln.source_bytes / 1e6:.1f}",
                          f"{ln.seconds:.1f}", f"{rate:.1f}")
        self.console.print(table)
        total = sum(ln.source_bytes for ln in self.lines)
        seconds = time.monotonic() - self.started
        self.console.print(f"{total / 1e6:.1f} MB read in {seconds:.1f}s ({total / 1e6 / max(seconds, 1e-9):.1f} MB/s)")
