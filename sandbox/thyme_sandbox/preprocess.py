"""Thyme's code fixes, re-done as pure functions on text and on the AST.

The model was trained against a sandbox that silently repaired its code before running
it (research/thyme.md section 2.2): first-line indentation, a made-up `image_path`,
crop boxes outside the image or thinner than 64 px, `cv.`-style aliases of `cv2`, and
the `/mnt/data/temp_processed_images/` output prefix. A policy trained with those
repairs writes code that relies on them, so the service must apply the same repairs
in the same order or rewards drop for reasons that have nothing to do with reasoning.

Each repair is its own function with no I/O: facts about the world (where the input
image is, which paths exist) come in as arguments, so every rule has a table test.
The reference's static deny-list is deliberately not reproduced: isolation is gVisor's
job here, and a regex that refuses `sys.` only teaches the model to avoid the word.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

# The reference's extraction regex, shared by its trainer and evaluators.
CODE_BLOCK = re.compile(r"<code>\s*(?:```\s*)?(?:python\s*)?([\s\S]*?)\s*(?:```\s*)?</code>", re.IGNORECASE)
# What the model writes when it means "my output folder"; its training sandbox remapped it.
OUTPUT_PREFIX = "/mnt/data/temp_processed_images/"
# The reference's MIN_CROP_DIMENSION: thinner crops were widened to this many pixels.
MIN_CROP_SIDE = 64
BOX_TUPLE_TARGETS = (("x1", "y1", "x2", "y2"), ("left", "top", "right", "bottom"))
BOX_NAMES = frozenset({
    "crop_box", "bbox", "box", "coordinates", "coords", "crop_coords",
    "left_crop_coords", "right_crop_coords", "top_crop_coords", "bottom_crop_coords",
})
CV_ALIASES = frozenset({"cv", "cv3", "cv4", "CV"})


@dataclass(frozen=True)
class ImageFacts:
    """What the transforms need to know about the session, passed in rather than looked up."""

    input_path: str | None
    width: int | None
    height: int | None
    output_dir: str


@dataclass
class Prepared:
    """Code ready to exec, plus the output sub-directories it implies (the worker makes them)."""

    code: str
    make_dirs: list[str] = field(default_factory=list)


def extract_code(text: str) -> str:
    """The code inside the first `<code>` block, or the text itself when there is none.

    RL resumes generation after the `<code>` stop word and the caller may send either the
    whole model turn or the bare code, so both are accepted.
    """
    match = CODE_BLOCK.search(text)
    if match:
        return match.group(1)
    # A turn cut at the stop word has an opening tag but no closing one.
    opened = re.search(r"<code>\s*(?:```\s*)?(?:python\s*)?", text, re.IGNORECASE)
    body = text[opened.end():] if opened else text
    return re.sub(r"\s*```\s*$", "", body)


def align_first_line(code: str) -> str:
    """Give the first non-blank line the indentation of the second, then dedent.

    Extraction strips the whitespace before the first line but not before the others,
    so `<code>\\n    x = 1\\n    y = 2` arrives as `x = 1\\n    y = 2`, which is an
    IndentationError. The reference fixed that first line the same way.
    """
    lines = code.strip("\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if len(lines) >= 2 and not lines[0].rstrip().endswith(":"):
        # A block opener keeps its place: its body is meant to be deeper than it.
        second = next((line for line in lines[1:] if line.strip()), "")
        lines[0] = second[: len(second) - len(second.lstrip())] + lines[0].lstrip()
    return textwrap.dedent("\n".join(lines)).strip()


def rewrite_image_path(tree: ast.Module, input_path: str | None, keep: Callable[[str], bool]) -> ast.Module:
    """`image_path = "<literal>"` points at the session's input unless `keep(literal)`.

    Models invent paths such as "/mnt/data/image.png" for the picture they were shown;
    the reference replaced any literal that was not an existing image file.
    """
    if input_path is None:
        return tree
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "image_path"
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                and not keep(node.value.value)):
            node.value = ast.Constant(input_path)
    return tree


def clamp_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """Sort the corners, clip them to the image, and widen a side thinner than 64 px.

    >>> clamp_box((500, 30, 10, 40), 400, 300)
    (10, 3, 400, 67)
    """
    x1, x2 = sorted((box[0], box[2]))
    y1, y2 = sorted((box[1], box[3]))
    x1, x2 = _clamp_span(x1, x2, width)
    y1, y2 = _clamp_span(y1, y2, height)
    return x1, y1, x2, y2


def _clamp_span(lo: float, hi: float, size: int) -> tuple[int, int]:
    lo = int(min(max(lo, 0), size))
    hi = int(min(max(hi, 0), size))
    need = min(MIN_CROP_SIDE, size)
    if hi - lo < need:
        centre = (lo + hi) // 2
        lo = max(0, min(centre - need // 2, size - need))
        hi = lo + need
    return lo, hi


def clamp_crop_boxes(tree: ast.Module, width: int | None, height: int | None) -> ast.Module:
    """Clamp literal crop boxes to the image: the three shapes the reference recognised.

    Only numeric literals are rewritten; a box computed at run time is left alone, as
    there is no value to clamp before the code runs.
    """
    if not width or not height:
        return tree
    return _BoxClamper(width, height).visit(tree)


class _BoxClamper(ast.NodeTransformer):
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        if len(node.targets) != 1:
            return node
        target, numbers = node.targets[0], _literal_numbers(node.value, 4)
        if numbers is None:
            return node
        if isinstance(target, ast.Tuple) and tuple(_names(target)) in BOX_TUPLE_TARGETS:
            node.value = _int_tuple(clamp_box(numbers, self.width, self.height))
        elif isinstance(target, ast.Name) and target.id in BOX_NAMES:
            node.value = _int_tuple(clamp_box(numbers, self.width, self.height), like=node.value)
        return ast.copy_location(node, node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        index = node.slice
        if not (isinstance(index, ast.Tuple) and len(index.elts) == 2
                and all(isinstance(s, ast.Slice) for s in index.elts)):
            return node
        rows, cols = index.elts
        bounds = [_number(b) for b in (cols.lower, rows.lower, cols.upper, rows.upper)]
        if any(b is None for b in bounds) or rows.step is not None or cols.step is not None:
            return node
        x1, y1, x2, y2 = clamp_box(tuple(bounds), self.width, self.height)  # type: ignore[arg-type]
        index.elts = [ast.Slice(ast.Constant(y1), ast.Constant(y2)), ast.Slice(ast.Constant(x1), ast.Constant(x2))]
        return node


def _names(target: ast.Tuple) -> list[str | None]:
    return [e.id if isinstance(e, ast.Name) else None for e in target.elts]


def _number(node: ast.AST | None) -> float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


def _literal_numbers(node: ast.AST, count: int) -> tuple[float, ...] | None:
    if not isinstance(node, (ast.Tuple, ast.List)) or len(node.elts) != count:
        return None
    numbers = tuple(_number(e) for e in node.elts)
    return None if any(n is None for n in numbers) else numbers  # type: ignore[return-value]


def _int_tuple(values: tuple[int, ...], like: ast.AST | None = None) -> ast.AST:
    elts = [ast.Constant(v) for v in values]
    return ast.List(elts, ast.Load()) if isinstance(like, ast.List) else ast.Tuple(elts, ast.Load())


def rename_cv_aliases(tree: ast.Module) -> ast.Module:
    """`cv.x`, `cv3.x`, `cv4.x`, `CV.x` become `cv2.x`: the model's habit, and the reference's fix."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in CV_ALIASES:
            node.value.id = "cv2"
    return tree


def map_output_prefix(tree: ast.Module, output_dir: str) -> tuple[ast.Module, list[str]]:
    """Point `/mnt/data/temp_processed_images/...` string literals at the session's output dir.

    Returns the sub-directories the literals imply (relative to the output dir), which the
    reference created before running; paths that climb out with `..` are not listed, so
    the worker never makes a directory outside its scratch space.
    """
    base = output_dir.rstrip("/") + "/"
    implied: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and OUTPUT_PREFIX in node.value:
            node.value = node.value.replace(OUTPUT_PREFIX, base)
            for tail in re.findall(re.escape(base) + r"([^\s'\"]*)", node.value):
                parent = tail.rsplit("/", 1)[0] if "/" in tail else ""
                parts = [p for p in parent.split("/") if p]
                if parent and ".." not in parts and parent not in implied:
                    implied.append("/".join(parts))
    return tree, implied


def widen_float_formats(code: str) -> str:
    """`:.2f}` becomes `:.8f}`: the reference forced 8 decimals on every one-digit precision."""
    return re.sub(r":\.\d{1}f}", ":.8f}", code)


def prepare(text: str, facts: ImageFacts, keep_image_path: Callable[[str], bool]) -> Prepared:
    """All repairs, in the reference's order. Raises SyntaxError for code that cannot parse."""
    code = align_first_line(extract_code(text))
    tree = ast.parse(code)
    tree = rewrite_image_path(tree, facts.input_path, keep_image_path)
    tree = clamp_crop_boxes(tree, facts.width, facts.height)
    tree = rename_cv_aliases(tree)
    tree, make_dirs = map_output_prefix(tree, facts.output_dir)
    code = widen_float_formats(ast.unparse(ast.fix_missing_locations(tree)))
    return Prepared(code=code, make_dirs=make_dirs)
