"""The worked examples in the DeepEyes modules' docstrings are tests too."""

from __future__ import annotations

import doctest

import pytest

from thyme_jobs.deepeyes import boxes, judging, rewards, toolcalls, turns, vstar


@pytest.mark.parametrize("module", [boxes, judging, rewards, toolcalls, turns, vstar], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
