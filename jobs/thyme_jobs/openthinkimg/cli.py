"""`thyme synth-charts OUT`: the synthetic chart-QA dump of the openthinkimg example."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    charts = subparsers.add_parser("synth-charts", help="write a synthetic chart-QA dump (Thyme-SFT layout)")
    charts.add_argument("out", type=Path)
    charts.add_argument("--rows", type=int, default=16)
    charts.add_argument("--seed", type=int, default=0)
    charts.set_defaults(func=synth_charts)


def synth_charts(args: argparse.Namespace) -> int:
    from thyme_jobs.openthinkimg import charts

    print(json.dumps(charts.write_dump(args.out, args.rows, args.seed)))
    return 0
