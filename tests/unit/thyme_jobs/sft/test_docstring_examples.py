"""The worked examples in the pure modules' docstrings are tests too."""

from __future__ import annotations

import doctest

import pytest

from thyme_jobs.modelio import deepspeed_config, formatting
from thyme_jobs.sft import masking


@pytest.mark.parametrize("module", [masking, formatting, deepspeed_config], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
