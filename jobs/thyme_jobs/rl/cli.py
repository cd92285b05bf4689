"""`thyme rl --config FILE`: the rl stage as a command (the config may also come from THYME_STAGE_CONFIG)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rl",
        help="GRPO-ATS on converted rows with sandbox rollouts and judge-backed rewards",
        description="Run the rl stage. The config is YAML or JSON (fields: thyme_jobs.rl.config.RLConfig); "
        "without --config it is read as JSON from THYME_STAGE_CONFIG.",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON config file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thyme_jobs import failures
    from thyme_jobs.rl.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
    except (failures.InputError, OSError) as exc:  # OSError: the --config file cannot be read
        return failures.usage_error("rl", exc)
    from thyme_jobs.rl.faults import SandboxFaultsExceeded
    from thyme_jobs.rl.judge import JudgeError
    from thyme_jobs.rl.main import run_stage
    from thyme_jobs.rl.readiness import ServerNotReady

    try:
        return run_stage(cfg)
    except failures.InputError as exc:  # no converted split, a config combination that cannot run
        return failures.usage_error("rl", exc)
    except JudgeError as exc:
        print(f"thyme rl: the judge failed for good, stopping (resume picks up from the last checkpoint): {exc}",
              file=sys.stderr)
        return 3
    except (SandboxFaultsExceeded, ServerNotReady) as exc:
        print(f"thyme rl: stopping (resume picks up from the last checkpoint): {exc}", file=sys.stderr)
        return 3
