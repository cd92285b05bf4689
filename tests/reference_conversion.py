"""The published Thyme-SFT conversion script's image steps, written out apart from
`thyme_jobs.convert`, so tests compare our conversion against an independent one.

(The benchmark keeps its own copy on purpose: issue 3 asks for the naive baseline to
be written inside the benchmark.)
"""

from __future__ import annotations

import io

from PIL import Image


def reference_jpeg(raw: bytes) -> bytes:
    """Alpha composited on white, mode RGB, JPEG quality 95: the reference's output bytes."""
    with Image.open(io.BytesIO(raw)) as img:
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            bg = Image.new("RGB", img.size, (255, 255, 255))
            bg.paste(img, (0, 0), img)
            img = bg
        elif img.mode != "RGB":
            img = img.convert("RGB")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)
        return buf.getvalue()
