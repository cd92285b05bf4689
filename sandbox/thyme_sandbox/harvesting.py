"""Which files a call produced: the reference's rules for finding result images.

The model learned to hand back images in a few ways (research/thyme.md section 2.4):
assign the path to `processed_path`, print the saved path, or print bare file names.
The rules below are those, in the same order, as a pure function over what the call
left behind, so each rule has a test without a sandbox. Standard library only: the
worker imports this inside gVisor.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

IMAGE_SUFFIX = r"\.(?:jpg|jpeg|png|bmp|gif|tiff)"
# The reference appended at most 10 images per trajectory; more from one call is noise.
MAX_IMAGES = 10


def harvest(
    stdout: str,
    out_dir: str,
    new_processed_path: str | None,
    dir_images: Callable[[], list[str]],
    is_result_file: Callable[[str], bool],
) -> list[str]:
    """Paths of the images a call produced, oldest rule first, de-duplicated, at most 10.

    `dir_images()` lists image files now in the output directory (called only when the
    bare-name rule needs it: listing costs syscalls, which are slow under gVisor); `is_result_file(path)`
    says whether a path is a regular file inside the output directory (the worker checks
    this without following links out of it).
    """
    base = out_dir.rstrip("/") + "/"
    found: list[str] = []
    if new_processed_path and new_processed_path.startswith(base):
        found.append(new_processed_path)
    found += re.findall(re.escape(base) + r"[^\s'\"]*?" + IMAGE_SUFFIX, stdout, re.IGNORECASE)
    if not found:
        names = re.findall(r"[\w\-.]+" + IMAGE_SUFFIX, stdout, re.IGNORECASE)
        images = dir_images() if names else []
        if names and len(names) == len(images):
            found += sorted(images)
        else:
            found += [p for p in re.findall(r"/[^\s'\"]+?" + IMAGE_SUFFIX, stdout, re.IGNORECASE)
                      if p.startswith(base)]
    unique = list(dict.fromkeys(os.path.normpath(p) for p in found))
    return [p for p in unique if is_result_file(p)][:MAX_IMAGES]


def is_inside(path: str, out_dir: str) -> bool:
    """True when `path`, with every link resolved, is a regular file inside `out_dir`.

    Resolving links is the point: a symlink planted in the output directory must not
    make the service hand back a file from elsewhere.
    """
    real = os.path.realpath(path)
    root = os.path.realpath(out_dir)
    return real.startswith(root.rstrip("/") + "/") and os.path.isfile(real) and not os.path.islink(path)


def list_images(out_dir: str) -> list[str]:
    pattern = re.compile(IMAGE_SUFFIX + "$", re.IGNORECASE)
    images = []
    for folder, _dirs, files in os.walk(out_dir):
        images += [os.path.join(folder, f) for f in files if pattern.search(f)]
    return images
