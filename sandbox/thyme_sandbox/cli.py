"""`thyme sandbox serve`: run the sandbox service.

    thyme sandbox serve --host 127.0.0.1 --port 8080 --pool-size 8
    thyme sandbox serve --launcher process   # inside a pod with runtimeClassName: gvisor

Every flag is a field of `SandboxSettings`; unset flags fall back to the environment
variable `THYME_SANDBOX_<FIELD>` (how the Helm chart configures it), then to the default.
"""

from __future__ import annotations

import argparse
import os

from thyme_sandbox.settings import SandboxSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    sandbox = subparsers.add_parser("sandbox", help="the isolated code-execution service")
    actions = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve the sandbox HTTP API")
    serve.add_argument("--host", default=os.environ.get("THYME_SANDBOX_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("THYME_SANDBOX_PORT", "8080")))
    for name, field in SandboxSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        serve.add_argument(flag, dest=name, default=None, help=field.description)
    serve.set_defaults(func=serve_command)


def settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> SandboxSettings:
    """Flags first, then THYME_SANDBOX_* variables; pydantic converts and checks the strings."""
    environ = os.environ if environ is None else environ
    values = {}
    for name in SandboxSettings.model_fields:
        value = getattr(args, name, None)
        if value is None:
            value = environ.get(f"THYME_SANDBOX_{name.upper()}")
        if value is not None:
            values[name] = value
    return SandboxSettings.model_validate(values)


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from thyme_sandbox.server import create_app

    app = create_app(settings_from(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0
