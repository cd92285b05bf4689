"""The records convert commits: a shard's done marker, a split's manifest, the stage's manifest.

Each is written after the files it describes, so its presence is a commit point (see
docs/contracts.md, run layout). None holds a timestamp or a duration: a rerun or a
resumed run writes byte-identical records, and two pods merging at once agree.
Keys are relative to the run root.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


def shard_prefix(split: str, shard: int) -> str:
    return f"data/{split}/shards/{shard}"


def done_key(split: str, shard: int) -> str:
    return f"{shard_prefix(split, shard)}/done.json"


def split_manifest_key(split: str) -> str:
    return f"data/{split}/manifest.json"


STAGE_MANIFEST_KEY = "data/manifest.json"


class Counts(BaseModel):
    """What a shard or split produced."""

    rows: int = 0
    rejected: int = 0
    images: int = 0
    image_bytes: int = 0
    reencoded: int = Field(0, description="Images converted to JPEG; the rest were stored byte for byte.")
    upscaled: int = Field(0, description="RL images with a side under 28 px, enlarged to the processor's minimum.")

    def plus(self, other: "Counts") -> "Counts":
        return Counts(**{name: getattr(self, name) + getattr(other, name) for name in Counts.model_fields})


class ShardDone(BaseModel):
    """`data/<split>/shards/<i>/done.json`: shard i of this split is stored completely."""

    model_config = ConfigDict(extra="forbid")

    split: str
    shard: int
    num_shards: int
    units: list[tuple[str, int]] = Field(description="(file stem, row group) converted by this shard.")
    counts: Counts
    rows_key: str
    rejects_key: str
    checksums: dict[str, str] = Field(description="sha256 of rows.jsonl, rejects.jsonl and of the image list.")


class SplitManifest(BaseModel):
    """`data/<split>/manifest.json`: what SFT and RL read, written once every shard is done."""

    model_config = ConfigDict(extra="forbid")

    split: str
    num_shards: int
    rows: int
    rejected: int
    images: int
    image_bytes: int
    reencoded: int
    upscaled: int = 0
    jsonl: list[str] = Field(description="Keys of the rows.jsonl files, in shard order.")
    rejects: list[str]
    checksums: dict[str, str] = Field(description="Key -> sha256 for every JSONL file and each shard's image list.")


class StageManifest(BaseModel):
    """`data/manifest.json`: convert's commit point."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(description="The SFT dump converted, if any.")
    num_shards: int
    rows: int
    rejected: int
    splits: dict[str, dict[str, int | str]]
    rl_source: str | None = Field(None, description="The RL dataset converted, if any, and its layout.")
    upscaled: int = 0


def merge_split(dones: list[ShardDone]) -> SplitManifest:
    """The split manifest from all of its shards' done markers (any order)."""
    dones = sorted(dones, key=lambda d: d.shard)
    split, n = dones[0].split, dones[0].num_shards
    if [d.shard for d in dones] != list(range(n)) or any(d.num_shards != n or d.split != split for d in dones):
        raise ValueError(f"split {split}: done markers {[d.shard for d in dones]} do not cover shards 0..{n - 1}")
    total = Counts()
    checksums: dict[str, str] = {}
    for d in dones:
        total = total.plus(d.counts)
        checksums[d.rows_key] = d.checksums["rows.jsonl"]
        checksums[d.rejects_key] = d.checksums["rejects.jsonl"]
        checksums[f"{shard_prefix(split, d.shard)}/images"] = d.checksums["images"]
    return SplitManifest(split=split, num_shards=n, jsonl=[d.rows_key for d in dones],
                         rejects=[d.rejects_key for d in dones], checksums=checksums, **total.model_dump())


def stage_manifest(source: str | None, num_shards: int, splits: list[SplitManifest],
                   rl_source: str | None = None) -> StageManifest:
    return StageManifest(
        source=source, num_shards=num_shards, rl_source=rl_source, upscaled=sum(s.upscaled for s in splits),
        rows=sum(s.rows for s in splits), rejected=sum(s.rejected for s in splits),
        splits={s.split: {"rows": s.rows, "rejected": s.rejected, "manifest": split_manifest_key(s.split)}
                for s in sorted(splits, key=lambda s: s.split)},
    )
