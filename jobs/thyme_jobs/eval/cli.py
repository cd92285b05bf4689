"""`thyme eval --config FILE` (the eval stage) and `thyme synth-bench OUT` (synthetic benchmarks)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score checkpoints on V*, HR-Bench and MME-RealWorld (VLMEvalKit TSVs) with VLMEvalKit's Thyme loop",
        description="Run the eval stage. The config is YAML or JSON (fields: thyme_jobs.eval.config.EvalConfig); "
        "without --config it is read as JSON from THYME_STAGE_CONFIG. Results go to eval/ under run_root.",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON config file")
    parser.set_defaults(func=run)

    synth = subparsers.add_parser(
        "synth-bench", help="write synthetic benchmarks in each VLMEvalKit TSV format, with broken rows",
        description="Write OUT/<benchmark>.tsv and OUT/answers.json (the right answers and the broken rows).")
    synth.add_argument("out", type=Path)
    synth.add_argument("--benchmarks", default="VStarBench,HRBench4K,HRBench8K,MME-RealWorld,MME-RealWorld-Lite",
                       help="comma-separated benchmark names")
    synth.add_argument("--items", type=int, default=20, help="good items per benchmark")
    synth.add_argument("--no-broken", action="store_true", help="leave out the broken rows")
    synth.add_argument("--side", type=int, default=448, help="image side in pixels")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=synth_bench)


def run(args: argparse.Namespace) -> int:
    from thyme_jobs.eval.config import ConfigError, load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"thyme eval: {exc}", file=sys.stderr)
        return 2
    from thyme_jobs.eval.main import run_stage

    try:
        return run_stage(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"thyme eval: {exc}", file=sys.stderr)
        return 2


def synth_bench(args: argparse.Namespace) -> int:
    from thyme_jobs.eval import scorers, synthetic

    names = [n.strip() for n in args.benchmarks.split(",") if n.strip()]
    unknown = [n for n in names if n not in scorers.BENCHMARKS]
    if unknown:
        print(f"thyme synth-bench: unknown benchmark(s) {unknown}; known: {', '.join(scorers.BENCHMARKS)}", file=sys.stderr)
        return 2
    summary = synthetic.write(args.out, names, args.items, broken=not args.no_broken, seed=args.seed, side=args.side)
    for name, info in summary.items():
        assert isinstance(info, dict)
        print(f"{args.out / info['tsv']}: {len(info['answers'])} items, {len(info['broken'])} broken rows")
    return 0
