"""VLMEvalKit's Thyme prompts, character for character (research notes 1.2 and 1.3)."""

from __future__ import annotations

import doctest

from thyme_jobs.eval import prompts


def test_mcq_text_with_hint_and_the_trailer():
    text = prompts.mcq_text("Which sign?", {"A": "stop", "B": "yield"}, hint="Look left.")
    assert text == ("Hint: Look left.\nQuestion: Which sign?\nOptions:\nA. stop\nB. yield\n"
                    "Please select the correct answer from the options above.")


def test_a_chinese_question_gets_the_chinese_trailer():
    text = prompts.mcq_text("这是什么颜色?", {"A": "红", "B": "蓝"})
    assert text.endswith("B. 蓝\n请直接回答选项字母。") and "Please select" not in text


def test_the_user_text_is_the_trained_template():
    text = prompts.thyme_user_text("Question: q", "/data/VStarBench/3.jpg", (640, 480))
    assert text == (
        "<image>\nQuestion: q\n\n"
        '### User Image Path:** "/data/VStarBench/3.jpg"\n'
        '### User Image Size:** "640x480"\n\n'
        "### **Output Format (strict adherence required):**\n\n"
        "<think>Your detailed reasoning process, including any code, should go here.</think>\n"
        "<answer>Your final answer to the user's question goes here.</answer>\n")
    assert 'Image Size:** "Unable to determine (error reading image)"' in prompts.thyme_user_text("q", "p", None)


def test_the_simple_fallback_prompt():
    assert prompts.SIMPLE_SYSTEM_PROMPT == "You are a helpful assistant."
    assert prompts.simple_user_text("Q?").endswith('Give the answer to the following question directly.\n'
                                                   '**User\'s Question:** "Q?"')


def test_docstring_examples():
    result = doctest.testmod(prompts)
    assert result.attempted > 0 and result.failed == 0
