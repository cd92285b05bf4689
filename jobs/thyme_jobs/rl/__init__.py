"""The rl stage: GRPO-ATS with multi-turn sandbox rollouts and judge-backed rewards.

Pure parts: `rewards`, `advantages`, `grpo` (the loss and step). Edges: `judge` (HTTP),
`checkpoints`, `prompts`, `records`, `ranks`, `updates`. The rollout loop, the engines,
the Thyme tool protocol and the sandbox runner are shared with evaluation and live in
`thyme_jobs.agent`; model loading, the processor and freezing in `thyme_jobs.modelio`.
`main` is the stage shell and `cli` its command.
"""
