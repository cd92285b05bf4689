"""`thyme run FILE`: execute a ThymeRun locally through the local executor.

A rerun of the same file continues where the last one stopped: stages whose manifest
is in the store are skipped, and an interrupted stage resumes from its newest
checkpoint (each stage program does that itself).

What it prints: one line per stage transition (the planner's events, as `kubectl
describe` lists them in a cluster), a progress bar per running stage with the stage's
own messages (`stage_output`), and at the end a table of the stages and the run's
summary. Each stage's whole output is in `<store>/logs/<run>/<job>.log`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STORE = "thyme-artifacts"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run a ThymeRun's stages as local processes",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path, help="a ThymeRun manifest (YAML)")
    p.add_argument("--store", default=DEFAULT_STORE,
                   help="a local directory that stands in for the spec's S3 storage (default: ./thyme-artifacts), "
                        "or 's3' to use spec.storage (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    p.add_argument("--sandbox-pool", type=int, default=2, help="warm sandbox workers for the RL stage (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from thyme_cli import local_executor, summary
    from thyme_jobs import store

    console = Console(stderr=True, log_path=False, soft_wrap=True)  # a long line stays one line in a log
    try:
        run_obj = local_executor.load_run(args.file)
    except local_executor.LocalRunError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    uris = local_executor.UriMap(None if args.store == "s3" else Path(args.store).resolve())
    log_dir = Path(args.store if args.store != "s3" else ".") / "logs" / run_obj.metadata["name"]
    executor = local_executor.LocalExecutor(run_obj, uris, log_dir=log_dir, sandbox_pool_size=args.sandbox_pool,
                                            console=console)

    def on_event(event) -> None:  # noqa: ANN001 - planner.Event
        colour = "yellow" if event.type == "Warning" else "cyan"
        console.log(f"[{colour}]{event.reason}[/{colour}] {escape(event.message)}", highlight=False)

    executor.on_event = on_event
    console.print(f"running {args.file} locally; artifacts under {executor.run_root()}; stage logs in {log_dir}")
    try:
        status = executor.run()
    except local_executor.LocalRunError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: run the same command again to continue where it stopped")
        return 130
    table = Table(title=f"ThymeRun {run_obj.metadata['name']}: {status.phase} ({status.progress})", title_justify="left")
    for col in ("stage", "state", "attempts", "message"):
        table.add_column(col)
    for stage in run_obj.spec.stage_names():
        st = getattr(status.stages, stage)
        table.add_row(stage, st.state if st else "Pending", str(st.attempts if st else 0), (st.message or "") if st else "")
    console.print(table)
    root = store.open_store(executor.run_root())
    result = summary.summarize(root, Path(executor.run_root()) / "summary" if uris.root else Path("thyme-summary"))
    console.rule(f"ThymeRun {run_obj.metadata['name']}: {status.phase}")
    for line in result.lines():
        print(line)
    if status.phase != "Succeeded":
        failed = [s for s in run_obj.spec.stage_names() if getattr(status.stages, s) and getattr(status.stages, s).state == "Failed"]
        console.print(f"[red]run failed[/red] at stage {', '.join(failed) or status.current_stage}: "
                      f"{escape(next((c.message for c in status.conditions if c.type == 'Failed'), ''))}")
        return 1
    return 0

