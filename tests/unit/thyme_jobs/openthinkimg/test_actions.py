"""OpenThinkIMG's JSON replies: well-formed ones give the action that runs, malformed ones say
why, Terminate carries the answer, observations use OpenThinkIMG's words."""

import pytest

from thyme_jobs.openthinkimg import actions
from thyme_jobs.openthinkimg.actions import Action


def test_a_reply_in_prose_or_a_fence_gives_its_first_action():
    text = ('Let me look closer.\n```json\n{"thought": "the legend is small", "actions": ['
            '{"name": "Crop", "arguments": {"param": "[0, 0, 100, 50]", "image": "img_1"}},'
            '{"name": "OCR", "arguments": {"image": "img_2"}}]}\n```')
    reply = actions.parse_reply(text)
    assert reply.valid and reply.error is None and reply.thought == "the legend is small"
    assert reply.action == Action("Crop", {"param": "[0, 0, 100, 50]", "image": "img_1"})  # only actions[0] runs
    assert len(reply.actions) == 2 and not reply.terminates


def test_a_bracket_inside_a_string_does_not_break_parsing():
    # OpenThinkIMG's regex over "actions": [...] stops at the first "]".
    reply = actions.parse_reply('{"thought": "x", "actions": [{"name": "Point", "arguments": {"param": "bar [2]"}}]}')
    assert reply.action == Action("Point", {"param": "bar [2]"})


@pytest.mark.parametrize("text, valid, error", [
    ("The answer is 42.", False, 'no JSON object with "thought" or "actions"'),
    ('{"thought": "x", "actions": [{"name": "Crop"', False, "no JSON object"),  # cut off mid-object
    ('{"answer": 42}', False, "no JSON object"),  # JSON, but not a reply
    ('{"thought": "x", "actions": "Crop"}', True, '"actions" is not a list'),
    ('{"thought": "x", "actions": [{"arguments": {}}]}', True, 'actions[0] has no "name"'),
    ('{"thought": "x", "actions": [{"name": "Crop", "arguments": "[1,2,3,4]"}]}', True, "arguments is not an object"),
    ('{"thought": "x", "actions": [7]}', True, 'actions[0] has no "name"'),
])
def test_malformed_replies_say_what_is_wrong(text, valid, error):
    reply = actions.parse_reply(text)
    assert reply.valid is valid and reply.action is None and error in reply.error


def test_a_thought_alone_is_valid_json_with_nothing_to_run():
    reply = actions.parse_reply('{"thought": "I can answer directly"}')
    assert reply.valid and reply.actions == [] and reply.action is None and reply.error is None


def test_terminate_ends_with_its_answer_and_the_regex_catches_broken_json():
    done = actions.parse_reply('{"thought": "t", "actions": [{"name": "Terminate", "arguments": {"ans": "1.5%"}}]}')
    assert done.terminates and actions.terminate_answer(done, "") == "1.5%"
    broken = 'I am done: {"name": "Terminate", "arguments": {"ans": "Germany"} and more'
    assert actions.terminate_answer(actions.parse_reply(broken), broken) == "Germany"
    assert actions.terminate_answer(actions.parse_reply("no answer"), "no answer") is None


def test_tool_requests_carry_param_as_text_and_ocr_none():
    assert actions.tool_request(Action("Crop", {"param": [1, 2, 3, 4]})) == {"param": "[1, 2, 3, 4]"}
    assert actions.tool_request(Action("DrawHorizontalLineByY", {"param": "y=20"})) == {"param": "y=20"}
    assert actions.tool_request(Action("OCR", {"image": "img_1", "param": "ignored"})) == {"param": None}


def test_the_observation_is_openthinkimgs_user_turn():
    assert actions.observation_text("OCR", "['Total', '42']") == (
        "OBSERVATION:\nOCR model outputs: ['Total', '42']\n"
        "Please summarize the model outputs and answer my first question.")
    detections = {"detections": []}
    assert '{"detections": []}' in actions.observation_text("grounding_dino", detections)


def test_format_reward_is_the_fraction_of_rounds_with_valid_json():
    rounds = ['{"thought": "a", "actions": [{"name": "Crop", "arguments": {"param": "[1,1,5,5]"}}]}',
              "I think it is 5", '{"actions": [{"name": "Terminate", "arguments": {"ans": "5"}}]}']
    assert actions.format_reward(rounds) == pytest.approx(2 / 3)
    assert actions.format_reward([]) == 0.0
