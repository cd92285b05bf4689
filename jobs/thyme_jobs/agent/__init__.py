"""The agent loop shared by RL rollouts and evaluation.

`loop` (trajectories, the `Engine` protocol, the multi-turn rollout), `protocols` (the
`ToolProtocol` interface every tool convention implements), `thyme_code` (Thyme's
`<code>` protocol over the sandbox) with `sandbox_runner` (its runner over the sandbox
service's client), `encoding` (a trajectory as model inputs) and `engines`
(transformers, vLLM). Stages import these; nothing here imports a stage.
"""
