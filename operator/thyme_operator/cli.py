"""`thyme operator` (run the kopf operator) and `thyme crd` (print or write the CRD)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    op = subparsers.add_parser("operator", help="run the ThymeRun operator against the current cluster",
                               description="Run the ThymeRun operator (kopf). Run one replica: kopf has no "
                                           "leader election, and this runs standalone (no peering).")
    op.add_argument("--namespace", "-n", action="append", default=[],
                    help="watch only this namespace (repeatable); default: all namespaces")
    op.add_argument("--allow-image-prefix", action="append", default=[], metavar="PREFIX",
                    help="refuse runs whose images do not start with one of these prefixes (repeatable; "
                         "default: the THYME_ALLOWED_IMAGE_PREFIXES environment variable, else allow all)")
    op.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port (0: off)")
    op.add_argument("--liveness", default=None, help="kopf liveness endpoint, e.g. http://0.0.0.0:8081/healthz")
    op.add_argument("--verbose", action="store_true", help="debug logging")
    op.set_defaults(func=run_operator)

    crd = subparsers.add_parser("crd", help="print the generated ThymeRun CRD, or write it with --write",
                                description="The CRD is generated from the pydantic models in thyme_operator.api.")
    crd.add_argument("--write", nargs="?", const="", default=None, metavar="PATH",
                     help="write to PATH (default: charts/thyme/crds/thymeruns.yaml, or "
                          "docs/thymerun-reference.md with --reference) instead of printing")
    crd.add_argument("--reference", action="store_true", help="the Markdown field reference instead of the CRD")
    crd.set_defaults(func=crd_command)


def crd_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from thyme_operator import crd, reference

    module = reference if args.reference else crd
    if args.write is None:
        sys.stdout.write(module.render())
    else:
        print(module.write(Path(args.write)) if args.write else module.write())
    return 0


def run_operator(args: argparse.Namespace) -> int:
    import logging
    import os

    import kopf

    from thyme_operator import handlers, metrics, policy  # noqa: F401  (registers the handlers)

    if args.allow_image_prefix:
        # handlers.startup reads it, like the chart's env var
        os.environ[policy.ENV_ALLOWED_IMAGE_PREFIXES] = ",".join(args.allow_image_prefix)

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    kopf.run(standalone=True, clusterwide=not args.namespace, namespaces=args.namespace,
             liveness_endpoint=args.liveness)
    return 0
