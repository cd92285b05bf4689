"""The convert stage's configuration: one pydantic model for the CLI, the config file and the pod.

The operator runs convert as an Indexed Job whose pods get the same JSON in
`THYME_STAGE_CONFIG` and tell themselves apart by `JOB_COMPLETION_INDEX`, which is why
`shard` may come from the environment. Locally, `thyme convert SOURCE DEST` builds the
same model from arguments.

When the split manifests are written (the merge): a shard that has committed its own
done markers looks for all `num_shards` markers of each split; when they are all there,
it writes the split's manifest, and once every split has one, `data/manifest.json`.
The last pod to finish therefore merges; two pods finishing together write identical
bytes (the manifests hold no timestamps), and puts are atomic. `merge: true` merges
without converting anything, for a retry after a merge step failed.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thyme_jobs.convert import layouts
from thyme_jobs.stage_config import ENV_CONFIG, ConfigError, read, validate  # noqa: F401 - re-exported

ENV_JOB_INDEX = "JOB_COMPLETION_INDEX"


class RLSource(BaseModel):
    """An RL dataset to convert beside (or instead of) the SFT dump; see `layouts.py`."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="A local directory or s3://bucket/prefix holding the dataset's parquet files.")
    layout: layouts.RLLayout = Field(description="thyme-rl (Kwai-Keye/Thyme-RL) or deepeyes (DeepEyes-Datasets-47k).")
    files: list[layouts.DeepEyesFile] = Field(
        default_factory=lambda: list(layouts.DEFAULT_DEEPEYES_FILES), min_length=1,
        description="deepeyes only: which of its files to convert. chart is left out by default: its very "
                    "high-resolution figures make crops that stay large and run a single node out of memory.")

    def splits(self) -> list[str]:
        return layouts.rl_splits(self.layout, list(self.files))


class ConvertConfig(BaseModel):
    """What `thyme convert` does."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, description="The Thyme-SFT dump: a local directory or s3://bucket/prefix "
                                                 "holding data/*.parquet; may be unset when rl_source is set.")
    rl_source: RLSource | None = Field(None, description="An RL dataset converted into the same run root.")
    run_root: str = Field(description="The run root URI the outputs go under (a path, file:// or s3://).")
    splits: list[str] | None = Field(None, description="Splits to convert; all splits found in the dump when unset or empty.")
    shard: int | None = Field(None, ge=0, description="Convert only this shard; all shards in turn when unset.")
    num_shards: int = Field(1, ge=1, le=10_000, description="How many shards the work is divided into.")
    workers: int | None = Field(None, ge=1, le=256, description="Decode processes; the CPU count when unset.")
    merge: bool = Field(False, description="Only write the manifests from existing done markers; convert nothing.")
    batch_rows: int = Field(4, ge=1, le=1024, description="Rows read from parquet at a time (bounds memory).")
    in_flight_mb: int = Field(32, ge=1, le=4096, description="Base64 megabytes handed to the workers and not yet "
                              "collected; lets reading run ahead of decoding (bounds memory).")

    @model_validator(mode="after")
    def _shard_in_range(self) -> "ConvertConfig":
        if self.source is None and self.rl_source is None:
            raise ValueError("set source (the SFT dump) or rl_source (an RL dataset), or both")
        if self.shard is not None and self.shard >= self.num_shards:
            raise ValueError(f"shard {self.shard} must be below num_shards {self.num_shards} (shards count from 0)")
        if self.splits == []:  # the operator sends [] when the ThymeRun names no splits
            self.splits = None
        return self

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def load_config(path: str | None, overrides: dict[str, Any], environ: dict[str, str] | None = None) -> ConvertConfig:
    """Merge the file (or THYME_STAGE_CONFIG), then command-line overrides, then the pod's index."""
    environ = dict(os.environ) if environ is None else environ
    data = read(path, environ, required=False)
    data.update({k: v for k, v in overrides.items() if v is not None})
    if data.get("shard") is None and environ.get(ENV_JOB_INDEX, "").isdigit() and int(data.get("num_shards", 1)) > 1:
        data["shard"] = int(environ[ENV_JOB_INDEX])
    return validate(ConvertConfig, data, "convert")
