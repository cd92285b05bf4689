"""What `thyme run` shows of a running stage: a progress bar and the stage's own lines.

`stage_output` streams the program's output into the stage's log file as it is written;
this module decides what of each line a person sees.

A stage process prints a lot that is not for people: per-step dicts of the Trainer,
weight-loading bars, DeepSpeed's and transformers' warnings. All of it goes to the
stage's log file, byte for byte, as `kubectl logs` would show it in a cluster; the
console gets only
- the progress lines (`thyme_jobs.progress`), drawn as one bar per label on a terminal;
  elsewhere printed at every step of a short stage, every tenth of the way of a long one;
- the lines our own loggers (`thyme_*`) write, and a program's closing error line
  (`thyme <stage>: ...`, see `thyme_jobs.failures`);
- on failure, the log's last lines, so a traceback is seen without opening the file.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from thyme_jobs import progress as progress_lines

_OWN = re.compile(r"\b(?P<level>INFO|WARNING|ERROR|CRITICAL) (?P<logger>thyme_[\w.]+): (?P<message>.*)$")
_CLOSING = re.compile(r"^thyme [\w-]+: ")
TAIL_LINES = 15
EVERY_STEP_UP_TO = 25  # a short stage prints every step; a longer one every tenth of the way


class StageDisplay:
    """Takes a stage's output line by line (the log has it all) and shows the lines for people."""

    def __init__(self, console: Console, stage: str) -> None:
        self.console, self.stage = console, stage
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._printed_tenth: dict[str, int] = {}

    def feed(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\n").split("\r")[-1].rstrip()
        if not line.strip():
            return
        self.tail.append(line)
        step = progress_lines.parse(line)
        if step is not None:
            self._show_progress(step)
            return
        own = _OWN.search(line)
        if own is not None:
            colour = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}.get(own["level"])
            text = escape(own["message"].removeprefix(f"{self.stage}: "))
            self._print(f"  [{colour}]{self.stage}[/{colour}] {text}" if colour else f"  {self.stage}: {text}")
        elif _CLOSING.match(line):
            self._print(f"  [red]{escape(line)}[/red]")

    def close(self, failed: bool, log_path: Path) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if failed and self.tail:
            self.console.print(f"  [red]{self.stage} failed[/red]; the last lines of {log_path}:")
            for line in self.tail:
                self.console.print(f"    {escape(line)}", highlight=False)

    def _print(self, text: str) -> None:
        (self._bar.console if self._bar is not None else self.console).print(text, highlight=False)

    def _show_progress(self, step: progress_lines.Progress) -> None:
        if not self.console.is_terminal:
            tenth = 10 * step.done // max(step.total, 1)
            if step.total <= EVERY_STEP_UP_TO or self._printed_tenth.get(step.label) != tenth or step.done == step.total:
                self._printed_tenth[step.label] = tenth
                fields = f"  {step.fields}" if step.fields else ""
                self.console.print(f"  {escape(step.label)} {step.done}/{step.total}{escape(fields)}", highlight=False)
            return
        if self._bar is None:
            self._bar = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[numbers]}"), console=self.console)
            self._bar.start()
        task = self._tasks.get(step.label)
        if task is None:
            task = self._tasks[step.label] = self._bar.add_task(escape(step.label), total=step.total, numbers="")
        self._bar.update(task, completed=step.done, total=step.total, numbers=escape(step.fields))
