"""OpenThinkIMG's reply format: `{"thought": ..., "actions": [{"name": ..., "arguments": {...}}]}`.

What its inferencer does with a reply (research notes, A3), and what we keep:
- Only `actions[0]` runs; its `arguments["param"]` becomes the tool's `param` (OCR takes
  no param; Terminate carries the answer in `ans`). Kept.
- The image a model names (`img_1`, ...) is ignored: the tool gets the newest edited image,
  else the original. Kept (the tools return one image, so "newest" is well defined).
- A trajectory ends at `Terminate` or at the round limit (3 for eval, 6 for RL). OpenThinkIMG
  ends on "Terminate" appearing *anywhere* in the text; here only a parsed Terminate action
  ends it, and the answer is its `ans`; `terminate_answer` keeps OpenThinkIMG's regex as
  the fallback for a reply whose JSON does not parse.
- The observation is a user turn "OBSERVATION:\\n{tool} model outputs: {text}\\nPlease
  summarize the model outputs and answer my first question." plus the edited image. Kept
  verbatim: it is what OpenThinkIMG's models were trained on.
- OpenThinkIMG finds the actions with a regex over `"actions": [...]`, which breaks on a
  `]` inside a string; here the reply's JSON object is decoded properly, taking the first
  object in the text (models often wrap it in prose or a ```json fence).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TERMINATE = "Terminate"
OBSERVATION = "OBSERVATION:\n{name} model outputs: {text}\nPlease summarize the model outputs and answer my first question."
EVAL_MAX_ROUNDS = 3
RL_MAX_ROUNDS = 6

_TERMINATE_ANSWER = re.compile(r'\{\s*"name"\s*:\s*"Terminate"\s*,\s*"arguments"\s*:\s*\{\s*"ans"\s*:\s*(.*?)\s*\}',
                               re.DOTALL)


@dataclass(frozen=True)
class Action:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A parsed model reply. `valid` is OpenThinkIMG's format test: JSON with `thought` or `actions`."""

    thought: str | None
    actions: list[Action]
    valid: bool
    error: str | None = None

    @property
    def action(self) -> Action | None:
        """The one action that runs (OpenThinkIMG runs `actions[0]` only)."""
        return self.actions[0] if self.actions else None

    @property
    def terminates(self) -> bool:
        return self.action is not None and self.action.name == TERMINATE


def parse_reply(text: str) -> Reply:
    """The first JSON object in `text` that has `thought` or `actions`; errors say what is wrong.

    >>> parse_reply('{"thought": "zoom", "actions": [{"name": "Crop", "arguments": {"param": "[1,2,3,4]"}}]}').action
    Action(name='Crop', arguments={'param': '[1,2,3,4]'})
    >>> parse_reply('Sure! {"thought": "done", "actions": [{"name": "Terminate", "arguments": {"ans": "42"}}]}').terminates
    True
    >>> parse_reply("The answer is 42.").error
    'no JSON object with "thought" or "actions" in the reply'
    """
    obj = _first_object(text)
    if obj is None:
        return Reply(None, [], False, 'no JSON object with "thought" or "actions" in the reply')
    thought = obj.get("thought")
    thought = thought if isinstance(thought, str) else None
    raw = obj.get("actions", [])
    if not isinstance(raw, list):
        return Reply(thought, [], True, '"actions" is not a list')
    actions: list[Action] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            return Reply(thought, actions, True, f'actions[{i}] has no "name"')
        arguments = item.get("arguments", {})
        if not isinstance(arguments, dict):
            return Reply(thought, actions, True, f'actions[{i}].arguments is not an object')
        actions.append(Action(item["name"].strip(), arguments))
    return Reply(thought, actions, True)


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and ("thought" in obj or "actions" in obj):
            return obj
    return None


def tool_request(action: Action) -> dict[str, Any]:
    """The worker call body (less the image) for an action, as OpenThinkIMG's inferencer builds it.

    >>> tool_request(Action("Crop", {"param": [10, 20, 200, 180], "image": "img_1"}))
    {'param': '[10, 20, 200, 180]'}
    >>> tool_request(Action("OCR", {"image": "img_1"}))
    {'param': None}
    """
    param = action.arguments.get("param")
    if param is not None and not isinstance(param, str):
        param = json.dumps(param)
    return {"param": None if action.name == "OCR" else param}


def terminate_answer(reply: Reply, text: str) -> str | None:
    """The answer a Terminate carries: its `ans`, else OpenThinkIMG's regex over the raw text.

    >>> terminate_answer(parse_reply('{"actions": [{"name": "Terminate", "arguments": {"ans": 3.5}}]}'), "")
    '3.5'
    >>> terminate_answer(parse_reply('broken'), '{"name": "Terminate", "arguments": {"ans": "B"}')
    'B'
    """
    if reply.terminates:
        ans = reply.action.arguments.get("ans")
        return None if ans is None else str(ans).strip()
    m = _TERMINATE_ANSWER.search(text)
    if not m:
        return None
    return m.group(1).strip().strip('"').strip()


def observation_text(tool: str, text: Any) -> str:
    """The user turn that carries a tool's answer back (OpenThinkIMG's words)."""
    shown = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    return OBSERVATION.format(name=tool, text=shown)


def format_reward(replies: list[str]) -> float:
    """V-ToolRL's optional format reward: the fraction of rounds whose reply is valid JSON.

    >>> format_reward(['{"thought": "a", "actions": []}', "no json here"])
    0.5
    >>> format_reward([])
    0.0
    """
    if not replies:
        return 0.0
    return sum(parse_reply(r).valid for r in replies) / len(replies)
