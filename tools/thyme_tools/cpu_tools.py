"""The tools that need no model: Crop, the two Draw tools and ZoomInSubfigure.

Texts follow OpenThinkIMG's workers ("Image cropped successfully.", "Line drawn
successfully."), so prompts and observations read the same as in its traces.
"""

from __future__ import annotations

from thyme_tools import drawing, images, params, subfigures
from thyme_tools.codes import ToolInputError
from thyme_tools.protocol import GenerateRequest, GenerateResponse
from thyme_tools.tools import Tool


class Crop(Tool):
    name = "Crop"

    def call(self, request: GenerateRequest) -> GenerateResponse:
        image = images.decode(request.image)
        box = params.parse_box(request.param, image.width, image.height)
        return GenerateResponse(text="Image cropped successfully.", edited_image=images.encode(drawing.crop(image, box)))


class DrawHorizontalLineByY(Tool):
    name = "DrawHorizontalLineByY"

    def call(self, request: GenerateRequest) -> GenerateResponse:
        image = images.decode(request.image)
        ys = params.parse_axis(request.param, "y", image.height)
        edited = drawing.horizontal_lines(image, ys)
        return GenerateResponse(text="Line drawn successfully.", edited_image=images.encode(edited))


class DrawVerticalLineByX(Tool):
    name = "DrawVerticalLineByX"

    def call(self, request: GenerateRequest) -> GenerateResponse:
        image = images.decode(request.image)
        xs = params.parse_axis(request.param, "x", image.width)
        edited = drawing.vertical_lines(image, xs)
        return GenerateResponse(text="Line drawn successfully.", edited_image=images.encode(edited))


class ZoomInSubfigure(Tool):
    """Detect the subplots, pick the one `param` names (a VLM when configured), answer its crop."""

    name = "ZoomInSubfigure"

    def __init__(self, chooser: subfigures.VlmChooser | None = None) -> None:
        self.chooser = chooser

    def load(self) -> None:
        import cv2  # noqa: F401 - fail at start-up, not on the first call, if OpenCV is missing

    def call(self, request: GenerateRequest) -> GenerateResponse:
        image = images.decode(request.image)
        if not request.param or not request.param.strip():
            raise ToolInputError("`param` is missing: name the subfigure (its title, or e.g. 'top left', '(b)')")
        boxes = subfigures.detect_subplots(image)
        if self.chooser is not None and len(boxes) > 1:
            choice = self.chooser.choose(request.param, image, boxes)
        else:
            choice = subfigures.choose_by_position(request.param, boxes)
        box = boxes[choice.index]
        text = (f"Zoomed in on subfigure {choice.index + 1} of {len(boxes)} ({choice.reason}), "
                f"region [{box[0]}, {box[1]}, {box[2]}, {box[3]}].")
        return GenerateResponse(text=text, edited_image=images.encode(image.crop(box)))
