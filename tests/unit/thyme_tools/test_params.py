"""`param` strings become pixel coordinates with OpenThinkIMG's conventions, or errors naming the problem."""

import pytest

from thyme_tools import params
from thyme_tools.codes import ErrorCode, ToolInputError


def test_crop_box_is_integer_pixels_and_json_or_spaced_text_parse_alike():
    assert params.parse_box("[10, 20, 110, 70]", 200, 100) == (10, 20, 110, 70)
    assert params.parse_box(" [10,20,110,70] ", 200, 100) == (10, 20, 110, 70)
    assert params.parse_box("[10.4, 20.6, 110, 70]", 200, 100) == (10, 21, 110, 70)


def test_a_box_sticking_out_of_the_image_is_clamped_to_it():
    assert params.parse_box("[-5, 10, 250, 120]", 200, 100) == (0, 10, 200, 100)


@pytest.mark.parametrize("param", ["[300, 10, 400, 50]", "[0, 150, 50, 200]", "[-50, -50, -1, -1]"])
def test_a_box_outside_the_image_is_out_of_range(param):
    with pytest.raises(ToolInputError, match="outside the 200x100 image") as err:
        params.parse_box(param, 200, 100)
    assert err.value.code == ErrorCode.PARAM_OUT_OF_RANGE


@pytest.mark.parametrize("param", ["", None, "10,20,30,40", "[1, 2, 3]", "[1, 2, 3, \"x\"]", "{\"a\": 1}",
                                   "[1, 2, 3, NaN]", "[true, 0, 5, 5]"])
def test_a_malformed_box_is_a_validation_error(param):
    with pytest.raises(ToolInputError) as err:
        params.parse_box(param, 200, 100)
    assert err.value.code == ErrorCode.VALIDATION_TYPE_ERROR


def test_an_inverted_box_is_refused():
    with pytest.raises(ToolInputError, match="empty or inverted"):
        params.parse_box("[50, 50, 10, 60]", 200, 100)


def test_molmo_points_are_percentages_of_width_and_height():
    assert params.parse_points('x="25" y="50"', 200, 100) == [(50.0, 50.0)]
    many = params.parse_points('<points x1="10" y1="20" x2="90.5" y2="100" alt="bars">bars</points>', 200, 100)
    assert [p for point in many for p in point] == pytest.approx([20.0, 20.0, 181.0, 100.0])


def test_a_point_above_100_percent_is_out_of_range():
    with pytest.raises(ToolInputError, match="percentages") as err:
        params.parse_points('x="120" y="5"', 200, 100)
    assert err.value.code == ErrorCode.PARAM_OUT_OF_RANGE


def test_text_without_a_point_says_how_to_write_one():
    with pytest.raises(ToolInputError, match='x="21.5" y="28.5"'):
        params.parse_points("the red bar", 200, 100)


def test_draw_tools_read_their_axis_from_a_point_or_a_lone_coordinate():
    assert params.parse_axis('x="12.6" y="50"', "y", 100) == pytest.approx([50.0])
    assert params.parse_axis("y=28.5", "y", 200) == pytest.approx([57.0])
    assert params.parse_axis('x="10" y="4.8"', "x", 300) == pytest.approx([30.0])
    with pytest.raises(ToolInputError, match="no x coordinate"):
        params.parse_axis("y=5", "x", 300)
