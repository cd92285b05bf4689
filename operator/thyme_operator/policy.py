"""What the cluster's administrator allows ThymeRuns to do, apart from what a run asks.

Whoever may create a ThymeRun in a namespace may run any image it names there, with
the S3 credentials of the Secret it names (the stage pods get them through
secretKeyRef). RBAC on ThymeRuns is therefore a grant to run code; the allow-list of
image prefixes (the chart's `operator.allowedImagePrefixes`, the operator's
`--allow-image-prefix`) narrows "any image" to the registries the administrator
trusts. The operator enforces it before it creates anything: a run naming another
image gets no children and a Failed condition with reason ImageNotAllowed that names
the field and the image, and continues once the spec names allowed images.

Pure: the operator reads the environment once at startup (`from_environment`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from thyme_operator import api

ENV_ALLOWED_IMAGE_PREFIXES = "THYME_ALLOWED_IMAGE_PREFIXES"


@dataclass(frozen=True)
class Policy:
    allowed_image_prefixes: tuple[str, ...] = ()
    """Empty: every image is allowed (the default, as without the operator)."""

    def refused_images(self, spec: api.ThymeRunSpec) -> list[tuple[str, str]]:
        """(field, image) for each image the run would use that no allowed prefix starts."""
        if not self.allowed_image_prefixes:
            return []
        return [(f, image) for f, image in images_used(spec) if not image.startswith(self.allowed_image_prefixes)]

    def refusal_message(self, refused: list[tuple[str, str]]) -> str:
        listed = "; ".join(f"{f} {image!r}" for f, image in refused)
        allowed = ", ".join(repr(p) for p in self.allowed_image_prefixes)
        return (f"image not allowed by the operator's image allow-list: {listed}; images must start with one of "
                f"{allowed} (chart value operator.allowedImagePrefixes)")


def images_used(spec: api.ThymeRunSpec) -> list[tuple[str, str]]:
    """The images the run's stages would start, as (spec field, image)."""
    stages = set(spec.stage_names())
    out = [("spec.images.jobs", spec.images.jobs)]          # convert, and the manifest probe of every run
    if stages & {"sft", "rl"}:
        out.append(("spec.images.trainer", spec.images.trainer))
    if "rl" in stages:
        out.append(("spec.images.sandbox", spec.images.sandbox))
    return out


def from_environment(environ: Mapping[str, str] | None = None) -> Policy:
    """Prefixes from THYME_ALLOWED_IMAGE_PREFIXES, separated by commas or whitespace."""
    raw = (os.environ if environ is None else environ).get(ENV_ALLOWED_IMAGE_PREFIXES, "")
    return Policy(tuple(p for p in raw.replace(",", " ").split() if p))
