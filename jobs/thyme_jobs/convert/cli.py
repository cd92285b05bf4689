"""`thyme convert` and `thyme synth-data`: arguments in, the stage (or the generator) run.

Imports of pyarrow and Pillow wait until a subcommand runs, so `thyme --help` stays cheap.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    convert = subparsers.add_parser(
        "convert", help="convert a Thyme-SFT parquet dump into images + JSONL under a run root",
        description="Stream a Thyme-SFT dump (data/<split>-NNNNN-of-MMMMM.parquet) into checked images, "
                    "rows.jsonl, rejects.jsonl and manifests under DEST. Without --shard and with --num-shards n, "
                    "all n shards run here and then merge; with --shard i only shard i runs, and whichever shard "
                    "finds every done marker present writes the manifests.")
    convert.add_argument("source", nargs="?", help="the dump: a directory or s3://bucket/prefix")
    convert.add_argument("dest", nargs="?", help="the run root: a directory, file:// or s3://bucket/prefix")
    convert.add_argument("--config", help="YAML or JSON config (fields of ConvertConfig); else $THYME_STAGE_CONFIG")
    convert.add_argument("--splits", nargs="+", help="splits to convert (default: every split in the dump)")
    convert.add_argument("--shard", type=int, help="convert only this shard (default: $JOB_COMPLETION_INDEX or all)")
    convert.add_argument("--num-shards", type=int, help="how many shards the work is divided into (default 1)")
    convert.add_argument("--workers", type=int, help="decode processes (default: CPU count)")
    convert.add_argument("--merge", action="store_true", default=None,
                         help="only write the manifests from the shards' done markers")
    convert.add_argument("--layout", choices=["thyme-sft", "thyme-rl", "deepeyes"], default="thyme-sft",
                         help="what SOURCE is: the Thyme-SFT dump (default) or an RL dataset")
    convert.add_argument("--files", nargs="+", choices=["vstar", "chart", "thinklite"],
                         help="deepeyes only: which files to convert (default: vstar thinklite; chart is left out "
                              "because its huge figures run single nodes out of memory)")
    convert.set_defaults(func=run_convert)

    synth = subparsers.add_parser(
        "synth-data", help="write a synthetic dump shaped like Thyme-SFT (for tests and demos)",
        description="Write OUT/data/<split>-NNNNN-of-MMMMM.parquet, OUT/counts.json and OUT/corrupt.json "
                    "from a seeded RNG: the same arguments give the same bytes.")
    synth.add_argument("out", type=Path)
    synth.add_argument("--rows", type=int, default=200, help="rows over all splits")
    synth.add_argument("--shards", type=int, default=1, help="parquet files per split")
    synth.add_argument("--min-side", type=int, default=800)
    synth.add_argument("--max-side", type=int, default=2400)
    synth.add_argument("--corrupt", type=float, default=0.0, help="fraction of images broken on purpose")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--layout", choices=["thyme-sft", "thyme-rl", "deepeyes", "vstar"], default="thyme-sft",
                       help="which dataset to imitate (thyme-rl, deepeyes, vstar: --rows is per split; vstar: the "
                            "raw V* benchmark folders DeepEyes evaluates on)")
    synth.set_defaults(func=run_synth)


def run_convert(args: argparse.Namespace) -> int:
    import logging

    from thyme_jobs import failures
    from thyme_jobs.convert import config, main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        source, rl_source = args.source, None
        if args.layout != "thyme-sft" and args.source is not None:
            source, rl_source = None, {"source": args.source, "layout": args.layout}
            if args.files:
                rl_source["files"] = args.files
        cfg = config.load_config(args.config, {
            "source": source, "rl_source": rl_source, "run_root": args.dest, "splits": args.splits,
            "shard": args.shard, "num_shards": args.num_shards, "workers": args.workers, "merge": args.merge})
        main.run(cfg)
    except failures.InputError as exc:  # a bad config, a missing dump, a contradicting rerun: no retry helps
        return failures.usage_error("convert", exc)
    return 0


def run_synth(args: argparse.Namespace) -> int:
    import json

    from thyme_jobs.convert import synthetic, synthetic_rl

    if args.layout == "vstar":
        print(json.dumps(synthetic_rl.write_vstar(args.out, args.rows, min_side=args.min_side,
                                                  max_side=args.max_side, seed=args.seed)))
        return 0
    if args.layout != "thyme-sft":
        rl_spec = synthetic_rl.RLSynthSpec(rows=args.rows, shards=args.shards, min_side=args.min_side,
                                           max_side=args.max_side, corrupt=args.corrupt, seed=args.seed)
        write = synthetic_rl.write_deepeyes if args.layout == "deepeyes" else synthetic_rl.write_thyme_rl
        print(json.dumps(write(args.out, rl_spec)))
        return 0
    spec = synthetic.SynthSpec(rows=args.rows, shards=args.shards, min_side=args.min_side,
                               max_side=args.max_side, corrupt=args.corrupt, seed=args.seed)
    print(json.dumps(synthetic.write_dump(args.out, spec)))
    return 0
