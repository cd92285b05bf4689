"""The eval stage: benchmark checkpoints the way VLMEvalKit benchmarks Thyme.

`config` (the fields the operator fills), the pure parts `answers` (final answer,
`can_infer`, MME-RealWorld's letter), `scorers` (per-benchmark rules, breakdowns, the
published numbers), `prompts` (VLMEvalKit's Thyme prompts) and `thyme_loop` (the
attempt/iteration/rollback/fallback loop over the shared agent loop's engines and the
Thyme tool protocol); edges: `tsv` (VLMEvalKit's TSV format), `encoding`, `judging`,
`outputs` (store layout and the merge), `reports` (summary table and chart),
`synthetic` (`thyme synth-bench`); `main` is the stage shell and `cli` its commands.
"""
