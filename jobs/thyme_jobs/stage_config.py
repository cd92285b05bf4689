"""How every stage program reads its config: a YAML/JSON file (`--config FILE`, for
people) or JSON in `THYME_STAGE_CONFIG` (how the operator hands it to a pod), checked
by the stage's pydantic model with errors that name each bad field.

One module for the three stages, so a pod, a laptop and a test all fail the same way
on the same mistake."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ENV_CONFIG = "THYME_STAGE_CONFIG"
M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """The stage config is missing, unreadable or invalid; the message says which field."""


def read(path: str | os.PathLike | None, environ: Mapping[str, str] | None = None, *,
         required: bool = True) -> dict[str, Any]:
    """The raw config mapping from `path` if given, else from THYME_STAGE_CONFIG.

    With `required=False` a missing config is an empty mapping (convert also takes its
    fields from the command line)."""
    environ = os.environ if environ is None else environ
    if path:
        text = Path(path).read_text()
        try:
            if str(path).endswith(".json"):
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except (json.JSONDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot parse: {exc}") from None
        source = str(path)
    elif environ.get(ENV_CONFIG):
        try:
            data = json.loads(environ[ENV_CONFIG])
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{ENV_CONFIG} is not valid JSON: {exc}") from None
        source = ENV_CONFIG
    elif required:
        raise ConfigError(f"no configuration: pass --config FILE or set {ENV_CONFIG} to the config as JSON")
    else:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of field names to values, got {type(data).__name__}")
    return data


def resolve_system_prompt(cfg: M) -> M:
    """`cfg` with `system_prompt` read from `system_prompt_uri` when that is set.

    Thyme's own system prompt is published with its code (scripts/prompt.txt), not with
    the checkpoints, and a policy resumed from a Thyme checkpoint must see exactly the
    prompt it was trained with: copy that file into the store and name it here, instead
    of pasting it into YAML where a stray newline changes the tokens."""
    uri = getattr(cfg, "system_prompt_uri", None)
    if not uri:
        return cfg
    from thyme_jobs import store

    parent, _, name = uri.rstrip("/").rpartition("/")
    if not name or not parent or parent.endswith(":/"):
        raise ConfigError(f"system_prompt_uri {uri!r} must name an object (s3://bucket/key or a file path)")
    try:
        text = store.open_store(parent, read_only=True).get_bytes(name).decode("utf-8")
    except (store.StoreError, UnicodeDecodeError) as exc:
        raise ConfigError(f"system_prompt_uri {uri!r}: {exc}") from None
    return cfg.model_copy(update={"system_prompt": text})


def validate(model: type[M], data: Any, stage: str) -> M:
    """`model.model_validate(data)`, with every error reported as `field.path: message`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{stage} config is invalid: {problems}") from None
