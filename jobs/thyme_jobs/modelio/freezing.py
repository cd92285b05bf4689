"""Freezing the vision tower of a Qwen2-VL / Qwen2.5-VL model.

Thyme trains with the ViT frozen (SFT's `--freeze_vit true`, and RL likewise), so SFT, RL
and anything else that trains the same models freeze it the same way, here.
"""

from __future__ import annotations

import torch


def freeze_vision(model: torch.nn.Module) -> int:
    """Freeze the vision tower (ViT and patch merger); returns how many parameters froze."""
    visual = _find_visual(model)
    n = 0
    for p in visual.parameters():
        p.requires_grad_(False)
        n += p.numel()
    return n


def _find_visual(model: torch.nn.Module) -> torch.nn.Module:
    for path in ("model.visual", "visual"):
        try:
            return model.get_submodule(path)
        except AttributeError:
            continue
    raise AttributeError(f"{type(model).__name__} has no vision tower at model.visual or visual; "
                         "freeze_vision supports Qwen2-VL and Qwen2.5-VL models")
