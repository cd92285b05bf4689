"""Thyme's code repairs, one table per rule (research/thyme.md section 2.2)."""

import ast

import pytest

from thyme_sandbox import preprocess
from thyme_sandbox.preprocess import ImageFacts

FACTS = ImageFacts(input_path="/sandbox/input/image.jpg", width=1000, height=800, output_dir="/sandbox/out")


def never(_: str) -> bool:
    return False


@pytest.mark.parametrize("text, code", [
    ("think <code>\n```python\nprint(1)\n```\n</code> more", "print(1)"),
    ("<CODE>```\nx = 2\n```</CODE>", "x = 2"),
    ("<code>print(3)</code>", "print(3)"),
    ("<code>\nprint(4)\n", "print(4)\n"),
    ("print(5)", "print(5)"),
])
def test_code_is_extracted_with_or_without_a_fence(text, code):
    assert preprocess.extract_code(text).strip() == code.strip()


def test_only_the_first_code_block_is_taken():
    assert preprocess.extract_code("<code>a = 1</code> and <code>b = 2</code>") == "a = 1"


@pytest.mark.parametrize("code, fixed", [
    ("x = 1\n    y = 2\n    print(x + y)", "x = 1\ny = 2\nprint(x + y)"),
    ("    x = 1\ny = 2", "x = 1\ny = 2"),
    ("for i in range(2):\n    print(i)", "for i in range(2):\n    print(i)"),
    ("\n\n  x = 1", "x = 1"),
])
def test_first_line_takes_the_indentation_of_the_second(code, fixed):
    assert preprocess.align_first_line(code) == fixed


def _rewrite(code, keep=never):
    tree = preprocess.rewrite_image_path(ast.parse(code), FACTS.input_path, keep)
    return ast.unparse(tree)


def test_invented_image_path_becomes_the_session_image():
    assert _rewrite("image_path = '/mnt/data/photo.png'") == "image_path = '/sandbox/input/image.jpg'"


def test_existing_image_path_is_kept():
    assert _rewrite("image_path = '/sandbox/out/a.png'", keep=lambda p: True) == "image_path = '/sandbox/out/a.png'"


def test_other_names_and_computed_paths_are_untouched():
    code = "other = '/x.png'\nimage_path = base + '.png'"
    assert _rewrite(code) == code


@pytest.mark.parametrize("box, clamped", [
    ((10, 20, 300, 400), (10, 20, 300, 400)),        # inside: unchanged
    ((300, 400, 10, 20), (10, 20, 300, 400)),        # corners swapped: sorted
    ((-50, -10, 1200, 900), (0, 0, 1000, 800)),      # outside: clipped
    ((100, 100, 110, 120), (73, 78, 137, 142)),      # thinner than 64: widened around the centre
    ((990, 790, 1000, 800), (936, 736, 1000, 800)),  # thin at the edge: widened inwards
])
def test_crop_box_is_sorted_clipped_and_at_least_64_px(box, clamped):
    assert preprocess.clamp_box(box, 1000, 800) == clamped


def test_box_in_an_image_smaller_than_64_px_is_the_whole_image():
    assert preprocess.clamp_box((5, 5, 10, 10), 40, 30) == (0, 0, 40, 30)


@pytest.mark.parametrize("code, expected", [
    ("x1, y1, x2, y2 = -5, 10, 2000, 700", "x1, y1, x2, y2 = (0, 10, 1000, 700)"),
    ("left, top, right, bottom = (900, 0, 990, 30)", "left, top, right, bottom = (900, 0, 990, 64)"),
    ("crop_box = (0, 0, 5000, 5000)", "crop_box = (0, 0, 1000, 800)"),
    ("bbox = [10, 10, 20, 20]", "bbox = [0, 0, 64, 64]"),
    ("crop = img[0:10, 900:1200]", "crop = img[0:64, 900:1000]"),
    ("a, b, c, d = 0, 0, 5000, 5000", "a, b, c, d = (0, 0, 5000, 5000)"),   # other names: untouched
    ("box = (x, 0, 10, 10)", "box = (x, 0, 10, 10)"),                       # not all literals: untouched
    ("crop = img[a:b, 0:10]", "crop = img[a:b, 0:10]"),
])
def test_literal_crop_boxes_are_clamped_to_the_image(code, expected):
    assert ast.unparse(preprocess.clamp_crop_boxes(ast.parse(code), 1000, 800)) == expected


def test_without_an_image_boxes_are_left_alone():
    code = "crop_box = (0, 0, 5000, 5000)"
    assert ast.unparse(preprocess.clamp_crop_boxes(ast.parse(code), None, None)) == code


@pytest.mark.parametrize("alias", ["cv", "cv3", "cv4", "CV"])
def test_opencv_aliases_become_cv2(alias):
    tree = preprocess.rename_cv_aliases(ast.parse(f"img = {alias}.imread(p)\n{alias}.imwrite(q, img)"))
    assert ast.unparse(tree) == "img = cv2.imread(p)\ncv2.imwrite(q, img)"


def test_output_prefix_maps_to_the_session_output_dir_with_implied_subdirs():
    code = "p = '/mnt/data/temp_processed_images/crops/a/x.jpg'\nq = '/mnt/data/temp_processed_images/y.png'"
    tree, dirs = preprocess.map_output_prefix(ast.parse(code), "/sandbox/out")
    assert ast.unparse(tree) == "p = '/sandbox/out/crops/a/x.jpg'\nq = '/sandbox/out/y.png'"
    assert dirs == ["crops/a"]


def test_output_paths_climbing_out_imply_no_directory():
    _, dirs = preprocess.map_output_prefix(ast.parse("p = '/mnt/data/temp_processed_images/../../etc/x.jpg'"),
                                           "/sandbox/out")
    assert dirs == []


def test_one_digit_float_formats_widen_to_eight():
    assert preprocess.widen_float_formats("f'{x:.2f}' '{:.1f}'") == "f'{x:.8f}' '{:.8f}'"


def test_prepare_applies_every_repair_in_order():
    text = ("<code>\n```python\nimage_path = 'input.png'\n    img = cv.imread(image_path)\n"
            "    x1, y1, x2, y2 = 0, 0, 10, 10\n"
            "    cv.imwrite('/mnt/data/temp_processed_images/c/out.jpg', img[y1:y2, x1:x2])\n```\n</code>")
    prepared = preprocess.prepare(text, FACTS, never)
    assert prepared.code.splitlines() == [
        "image_path = '/sandbox/input/image.jpg'",
        "img = cv2.imread(image_path)",
        "x1, y1, x2, y2 = (0, 0, 64, 64)",
        "cv2.imwrite('/sandbox/out/c/out.jpg', img[y1:y2, x1:x2])",
    ]
    assert prepared.make_dirs == ["c"]


def test_code_that_cannot_parse_raises_syntax_error_with_its_line():
    with pytest.raises(SyntaxError) as caught:
        preprocess.prepare("x = 1\ny = (\n", FACTS, never)
    assert caught.value.lineno == 2
