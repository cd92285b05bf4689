"""`thyme sandbox serve` flags and environment become checked settings."""

import argparse

import pydantic
import pytest

from thyme_sandbox import cli


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_flags_override_environment_which_overrides_defaults():
    args = _parse(["sandbox", "serve", "--pool-size", "3", "--port", "9000"])
    settings = cli.settings_from(args, {"THYME_SANDBOX_POOL_SIZE": "7", "THYME_SANDBOX_CALL_TIMEOUT": "2.5"})
    assert settings.pool_size == 3 and settings.call_timeout == 2.5 and settings.launcher == "runsc"
    assert args.port == 9000 and args.func is cli.serve_command


def test_a_bad_value_names_the_field():
    with pytest.raises(pydantic.ValidationError, match="pool_size"):
        cli.settings_from(_parse(["sandbox", "serve", "--pool-size", "-1"]), {})
