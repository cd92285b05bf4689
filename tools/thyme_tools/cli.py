"""`thyme tools serve` and `thyme tools front`: run one tool worker, or the controller-compatible front.

    thyme tools serve --tool Crop --port 20013
    thyme tools serve --tool grounding_dino --model s3://models/grounding-dino --device cuda
    thyme tools front --port 20001 --worker Crop=http://127.0.0.1:20013 --worker OCR=http://ocr:8080
    thyme tools tiny-model sam ./tiny-sam            # a tiny random SAM for tests and the CPU example

Every `serve` flag is a field of `WorkerSettings`; an unset flag falls back to the
environment variable `THYME_TOOLS_<FIELD>` (how a Deployment configures it), then to
the default. `front` reads `--worker NAME=URL` flags, or `THYME_TOOLS_WORKERS` as
comma-separated `NAME=URL` pairs.
"""

from __future__ import annotations

import argparse
import os

from thyme_tools.settings import FrontSettings, WorkerSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    tools = subparsers.add_parser("tools", help="vision tool servers (OpenThinkIMG's worker API)")
    actions = tools.add_subparsers(dest="tools_command", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve one tool")
    _listen_flags(serve, default_port=8080)
    for name, field in WorkerSettings.model_fields.items():
        serve.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=field.description)
    serve.set_defaults(func=serve_command)
    front = actions.add_parser("front", help="serve the controller-compatible front over tool workers")
    _listen_flags(front, default_port=20001)
    front.add_argument("--worker", action="append", default=None, metavar="NAME=URL", help="a tool and its worker URL")
    front.add_argument("--probe-timeout", type=float, default=None)
    front.set_defaults(func=front_command)
    tiny = actions.add_parser("tiny-model", help="write a tiny random tool model (tests, the CPU example)")
    tiny.add_argument("kind", choices=["grounding_dino", "sam"])
    tiny.add_argument("out")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=tiny_model_command)


def _listen_flags(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default=os.environ.get("THYME_TOOLS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("THYME_TOOLS_PORT", str(default_port))))


def worker_settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> WorkerSettings:
    """Flags first, then THYME_TOOLS_* variables; pydantic converts and checks the strings."""
    environ = os.environ if environ is None else environ
    values = {}
    for name in WorkerSettings.model_fields:
        value = getattr(args, name, None)
        if value is None:
            value = environ.get(f"THYME_TOOLS_{name.upper()}")
        if value is not None:
            values[name] = value
    return WorkerSettings.model_validate(values)


def front_settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> FrontSettings:
    environ = os.environ if environ is None else environ
    pairs = args.worker or [p for p in environ.get("THYME_TOOLS_WORKERS", "").split(",") if p.strip()]
    workers = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise SystemExit(f"thyme tools front: worker {pair!r} is not NAME=URL")
        workers[name.strip()] = url.strip()
    values: dict = {"workers": workers}
    if args.probe_timeout is not None:
        values["probe_timeout"] = args.probe_timeout
    return FrontSettings.model_validate(values)


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from thyme_tools.worker import create_app

    app = create_app(worker_settings_from(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


def front_command(args: argparse.Namespace) -> int:
    import uvicorn

    from thyme_tools.front import create_app

    uvicorn.run(create_app(front_settings_from(args)), host=args.host, port=args.port, log_level="info",
                access_log=False)
    return 0


def tiny_model_command(args: argparse.Namespace) -> int:
    import importlib

    tiny = importlib.import_module("thyme_tools.models.tiny")  # by name: this module stays free of torch
    build = tiny.build_grounding_dino if args.kind == "grounding_dino" else tiny.build_sam
    print(build(args.out, seed=args.seed))
    return 0
