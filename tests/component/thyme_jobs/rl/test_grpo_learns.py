"""GRPO visibly learns: the tiny Qwen2.5-VL's mean reward rises over a few dozen steps.

The loop is the rl stage's own, minus its scoring: the transformers engine samples each
trajectory (text at temperature 1.0, the real sandbox for any `<code>`), the trajectory
encoder builds the token ids and the loss mask, rewards are group-normalised
(`advantages`) and one `grpo_update` per step changes the weights.

The task has to be learnable by a random model in a few dozen CPU steps, so the reward
is dense and starts between a quarter and a third: the share of the completion's tokens
(re-tokenised from its text, independent of the loss mask) whose id is even. Every group then has
reward variance, so every step carries signal, and a policy that learns moves the share
up. Thyme's own rewards (format, accuracy) are all but never earned by a random model:
they would test nothing here.

What makes it fail: a flipped advantage sign (the share goes down), a loss mask that
leaves out the sampled tokens (nothing learned), gradients that do not reach the
weights or an update that does not step. Checked by hand: with the sign of the
advantage flipped in `grpo.grpo_update` the share falls (seed 0: 0.28 -> 0.03) and with
an all-false loss mask it stays flat (seed 1: 0.38 ... 0.27); both fail the test. About
half a minute per seed on a busy 2-core machine.
"""

from __future__ import annotations

import asyncio
from statistics import fmean

import pytest
import torch

from thyme_jobs.agent import loop as rollout
from thyme_jobs.agent import thyme_code
from thyme_jobs.agent.encoding import TrajectoryEncoder
from thyme_jobs.agent.engines import TransformersEngine
from thyme_jobs.agent.sandbox_runner import SandboxRunner
from thyme_jobs.rl import advantages, grpo, updates

STEPS, GROUPS, GENERATIONS, NEW_TOKENS, LEARNING_RATE = 30, 2, 4, 8, 3e-3
WINDOW = 6          # steps averaged at each end
MARGIN = 0.15       # the last steps' mean share must beat the first steps' by this much
QUESTION = "What is the color of the object in the image? Answer with a single word."


def favoured_share(tokenizer, text: str) -> float:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return sum(i % 2 == 0 for i in ids) / len(ids) if ids else 0.0


async def learn(model_dir, sandbox_url: str, seed: int) -> list[float]:
    """Mean reward of each step of a GRPO run from the tiny model's random weights."""
    from transformers import AutoModelForImageTextToText

    from thyme_jobs.modelio.processor import load_processor

    torch.manual_seed(seed)
    processor = load_processor(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    encoder = TrajectoryEncoder(processor, system_prompt=None)
    engine = TransformersEngine(model, encoder)
    update = updates.PlainUpdate.adamw(model, learning_rate=LEARNING_RATE, max_grad_norm=1.0)
    settings = rollout.RolloutSettings(
        max_rounds=1, max_images=2, text=rollout.Sampling(1.0, NEW_TOKENS, thyme_code.TEXT_STOPS),
        code=rollout.Sampling(0.0, NEW_TOKENS, thyme_code.CODE_STOPS))
    runner = SandboxRunner.from_url(sandbox_url)
    means = []
    try:
        for step in range(STEPS):
            batch = [rollout.Trajectory(f"learn{seed}-s{step}-p{p}-g{g}", f"p{p}", QUESTION, [])
                     for p in range(GROUPS) for g in range(GENERATIONS)]
            await rollout.rollout(batch, engine, thyme_code.ThymeCode(runner), settings, seed=seed * 1000 + step)
            rewards = torch.tensor([favoured_share(processor.tokenizer, t.completion) for t in batch])
            adv = advantages.group_advantages(rewards, GENERATIONS)
            grpo.grpo_update(update, None, [encoder.encode(t) for t in batch], adv, clip_epsilon=0.2, kl_beta=0.0)
            means.append(float(rewards.mean()))
    finally:
        await runner.aclose()
    return means


@pytest.mark.parametrize("seed", [0, 1])
def test_mean_reward_rises_over_a_few_dozen_steps(seed, tiny_model_dir, sandbox_url) -> None:
    means = asyncio.run(learn(tiny_model_dir, sandbox_url, seed))
    first, last = fmean(means[:WINDOW]), fmean(means[-WINDOW:])
    assert last > first + MARGIN, f"seed {seed}: reward per step {[round(m, 2) for m in means]}"
