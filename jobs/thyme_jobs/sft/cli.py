"""`thyme sft` and `thyme tiny-model`: argument parsing only; the work is in main.py and tinymodel.py."""

from __future__ import annotations

import argparse
import logging


def register(subparsers: argparse._SubParsersAction) -> None:
    sft = subparsers.add_parser(
        "sft", help="run the SFT stage (config from --config or THYME_STAGE_CONFIG)",
        description="Supervised fine-tuning on converted Thyme rows; resumable, exits 0 at once when done.")
    sft.add_argument("--config", help="YAML or JSON file with the SFT config (default: $THYME_STAGE_CONFIG)")
    sft.set_defaults(func=_run_sft)

    tiny = subparsers.add_parser(
        "tiny-model", help="write a tiny random Qwen2.5-VL model directory (for the quickstart and tests)")
    tiny.add_argument("out", help="directory to write")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=_run_tiny_model)


def _run_sft(args: argparse.Namespace) -> int:
    from thyme_jobs import failures
    from thyme_jobs.sft import config, main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config.load_config(args.config)
    except (failures.InputError, OSError) as exc:  # OSError: the --config file cannot be read
        return failures.usage_error("sft", exc)
    try:
        main.run(cfg)
    except failures.InputError as exc:  # no converted split, no model at `model`: no retry helps
        return failures.usage_error("sft", exc)
    return 0


def _run_tiny_model(args: argparse.Namespace) -> int:
    from thyme_jobs import tinymodel

    print(tinymodel.build(args.out, seed=args.seed))
    return 0
