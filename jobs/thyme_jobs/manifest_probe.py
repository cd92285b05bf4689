"""`thyme manifest-probe`: is a stage's manifest in the store? (The operator's probe Job.)

The operator learns which stages of a run are committed from an Indexed Job running
this program (operator/thyme_operator/builders/probe.py says why): pod i looks for
`manifests[i]` under `run_root` and exits 0 when it is there, 3 when it is not, and 1
when the store cannot answer. Only 0 counts as committed, so an error can never make
the operator skip a stage. The config is `{"run_root", "manifests"}` in
THYME_STAGE_CONFIG (or `--config FILE`); the index comes from JOB_COMPLETION_INDEX.
Without an index (by hand) it checks them all and exits 0 only if all are there.
"""

from __future__ import annotations

import argparse
import os
import sys

COMMITTED, ABSENT, UNKNOWN = 0, 3, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("manifest-probe", help="exit 0 if a stage's manifest is in the store (operator probe)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="YAML/JSON config; default THYME_STAGE_CONFIG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thyme_jobs import stage_config, store

    try:
        config = stage_config.read(args.config)
        root_uri, manifests = str(config["run_root"]), [str(m) for m in config["manifests"]]
    except (stage_config.ConfigError, KeyError, TypeError) as exc:
        print(f"manifest-probe: bad config: {exc}", file=sys.stderr)
        return UNKNOWN
    index = os.environ.get("JOB_COMPLETION_INDEX")
    wanted = [manifests[int(index)]] if index is not None and index.isdigit() else manifests
    try:
        root = store.open_store(root_uri, read_only=True)
        found = [key for key in wanted if root.exists(key)]
    except (store.StoreError, OSError) as exc:
        print(f"manifest-probe: cannot read {root_uri}: {exc}", file=sys.stderr)
        return UNKNOWN
    for key in wanted:
        print(f"{root_uri}/{key}: {'committed' if key in found else 'absent'}")
    return COMMITTED if len(found) == len(wanted) else ABSENT
