"""The evaluation prompt as model inputs: VLMEvalKit's message layout through the model's template.

The user turn is the image item first and then one text item, and that text itself
starts with a literal `<image>` (research notes 1.3), so the model sees the vision block
followed by the characters `<image>`. A row-based prompt (`modelio.formatting`) would
turn that literal into a second image, hence this encoder: the system turn and the user
text come from the `EvalTrajectory`, the assistant turn (segments, sandbox images) is
rendered exactly as in RL.
"""

from __future__ import annotations

from typing import Any

from thyme_jobs.agent.encoding import TrajectoryEncoder
from thyme_jobs.agent.loop import Trajectory


def messages(system: str | None, user_text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": [{"type": "text", "text": system}]})
    out.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text}]})
    return out


class EvalEncoder(TrajectoryEncoder):
    """Renders `EvalTrajectory` prompts; falls back to the row format for plain trajectories."""

    def __init__(self, processor: Any) -> None:
        super().__init__(processor, None)

    def prompt_text(self, t: Trajectory) -> str:
        user_text = getattr(t, "user_text", None)
        if not user_text:
            return super().prompt_text(t)
        return self.processor.apply_chat_template(messages(getattr(t, "system", None), user_text),
                                                  tokenize=False, add_generation_prompt=True)
