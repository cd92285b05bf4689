"""The rl stage: GRPO-ATS with multi-turn sandbox rollouts and judge-backed rewards.

Pure parts: `rewards`, `advantages`, `grpo` (the loss and step), `rollout` (the loop over
protocols). Edges: `judge` (HTTP), `sandbox_runner` (the sandbox client), `engines`
(transformers, vLLM), `encoding` (the processor), `checkpoints`, `prompts`, `records`.
`main` is the stage shell and `cli` its command.
"""
