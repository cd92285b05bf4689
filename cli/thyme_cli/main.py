"""Entry point of the `thyme` command.

Each component owns its subcommand in a `cli.py` module with `register(subparsers)`;
this file only lists those modules, so it stays a dispatcher and imports nothing
heavy until a subcommand actually runs (the operator image has no torch).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

# Modules that add a subcommand. Add a line when the subcommand works, never before.
COMMAND_MODULES: tuple[str, ...] = ("thyme_jobs.convert.cli", "thyme_jobs.manifest_probe", "thyme_operator.cli", "thyme_sandbox.cli", "thyme_jobs.rl.cli", "thyme_jobs.sft.cli", "thyme_tools.cli", "thyme_jobs.eval.cli", "thyme_jobs.openthinkimg.cli", "thyme_cli.run_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thyme",
        description="Thyme on Kubernetes: train vision-language models that think with images.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('thyme-k8s')}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
