"""The prompts of VLMEvalKit's Thyme wrapper, character for character (research notes 1.2, 1.3).

These strings are what Thyme was trained on (the user template) or evaluated with (the
multiple-choice text, the simple fallback); a different space changes the numbers, so
they are reproduced exactly rather than paraphrased:

- `mcq_text`: `[Hint: ...\\n]Question: ...\\nOptions:\\nA. ...\\n...Please select the correct
  answer from the options above.`, right-stripped; a question with CJK characters gets
  the Chinese trailer instead. V*, HR-Bench and MME-RealWorld all get this text (MME's own
  "The best answer is:" prompt is not used with Thyme).
- `thyme_user_text`: starts with a literal `<image>` string (besides the real image item
  placed before it), names the image path and size in the `### User Image Path:** "..."`
  form the model was trained on (lmms-eval's `Path: "..."` variant is not), and asks for
  `<think>`/`<answer>`.
- `simple_user_text` with `SIMPLE_SYSTEM_PROMPT`: the fallback when no attempt answered.

The system prompt of the tool mode is not here: it is the run's configured one (the
prompt SFT and RL trained the checkpoint with).
"""

from __future__ import annotations

import re

MCQ_TRAILER = "Please select the correct answer from the options above."
MCQ_TRAILER_CN = "请直接回答选项字母。"
SIMPLE_SYSTEM_PROMPT = "You are a helpful assistant."
SIZE_UNKNOWN = "Unable to determine (error reading image)"
_CJK = re.compile(r"[\u4e00-\u9fff]")

USER_TEMPLATE = (
    "<image>\n"
    "{question}\n"
    "\n"
    '### User Image Path:** "{path}"\n'
    '### User Image Size:** "{size}"\n'
    "\n"
    "### **Output Format (strict adherence required):**\n"
    "\n"
    "<think>Your detailed reasoning process, including any code, should go here.</think>\n"
    "<answer>Your final answer to the user's question goes here.</answer>\n"
)

SIMPLE_TEMPLATE = (
    "You are an advanced AI assistant specializing in visual question answering (VQA). "
    "You don't need to perform any image manipulation or reasoning. "
    "Give the answer to the following question directly.\n"
    '**User\'s Question:** "{question}"'
)


def mcq_text(question: str, options: dict[str, str], hint: str = "") -> str:
    """The multiple-choice question text.

    >>> print(mcq_text("What colour is the car?", {"A": "red", "B": "blue"}))
    Question: What colour is the car?
    Options:
    A. red
    B. blue
    Please select the correct answer from the options above.
    """
    text = f"Hint: {hint}\n" if hint else ""
    text += f"Question: {question}\n"
    if options:
        text += "Options:\n" + "".join(f"{letter}. {value}\n" for letter, value in options.items())
        text += MCQ_TRAILER + " \n"
    text = text.rstrip()
    if _CJK.search(text):
        text = text.replace(MCQ_TRAILER, MCQ_TRAILER_CN)
    return text


def thyme_user_text(question: str, path: str, size: tuple[int, int] | None) -> str:
    """The tool-mode user text; `size` None means the image could not be read."""
    shown = f"{size[0]}x{size[1]}" if size else SIZE_UNKNOWN
    return USER_TEMPLATE.format(question=question, path=path, size=shown)


def simple_user_text(question: str) -> str:
    return SIMPLE_TEMPLATE.format(question=question)
