"""A DeepEyes trajectory as training input: the tool-response turn and the crop's image tokens
carry no loss; only what the policy sampled does."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from thyme_jobs import tinymodel
from thyme_jobs.agent.encoding import TrajectoryEncoder
from thyme_jobs.agent.loop import Segment, Trajectory
from thyme_jobs.deepeyes import turns
from thyme_jobs.deepeyes.protocol import DeepEyesZoom

CALL = ('<think>zoom</think>\n<tool_call>\n{"name": "image_zoom_in_tool", "arguments": '
        '{"bbox_2d": [10, 10, 120, 90]}}\n</tool_call>')
ANSWER = "<think>red</think>\n<answer>red</answer>"


def test_the_observation_and_the_crop_carry_no_loss() -> None:
    processor = tinymodel.build_processor()
    image = io.BytesIO()
    Image.linear_gradient("L").resize((300, 200)).convert("RGB").save(image, "PNG")
    t = Trajectory("t", "p", "<image>\nWhat colour?", [image.getvalue()])
    tool = DeepEyesZoom.for_processor(processor)
    observation = tool.render(asyncio.run(tool.run(t, tool.parse(CALL))), images_left=5, max_chars=2000)
    assert observation.images and not observation.trainable
    t.segments = [Segment(CALL, True), observation, Segment(ANSWER, True)]

    encoder = TrajectoryEncoder(processor, turns.system_prompt())
    encoded = encoder.encode(t)
    tokenizer = processor.tokenizer
    sampled = len(tokenizer(CALL, add_special_tokens=False)["input_ids"]) + \
        len(tokenizer(ANSWER, add_special_tokens=False)["input_ids"])
    assert int(encoded.loss_mask.sum()) == sampled
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    image_positions = encoded.input_ids == pad
    assert int(image_positions.sum()) > 0 and not bool((encoded.loss_mask & image_positions).any())
    assert encoded.extra["image_grid_thw"].shape[0] == 2  # the input image and the crop
    # the tool prompt is in the system turn the policy sees
    assert "image_zoom_in_tool" in encoder.prompt_text(t) and "<tools>" in encoder.prompt_text(t)
