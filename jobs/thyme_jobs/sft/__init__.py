"""The SFT stage: Thyme's supervised fine-tuning of a Qwen2-VL / Qwen2.5-VL model.

`config` (the fields the operator fills), the pure transform `masking`, `data` (rows and
images from the store), `train` (the Trainer and its hooks) and `main`, the shell that
`thyme sft` runs. The chat format, the processor, store checkpoints, freezing and the
DeepSpeed configs are shared with the other stages in `thyme_jobs.modelio`. Importing the
package imports nothing heavy.
"""
