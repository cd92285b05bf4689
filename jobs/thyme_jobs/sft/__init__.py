"""The SFT stage: Thyme's supervised fine-tuning of a Qwen2-VL / Qwen2.5-VL model.

`config` (the fields the operator fills), the pure transforms `formatting` and `masking`,
`data` (rows and images from the store), `train` (the Trainer and its hooks),
`checkpoints` (the store side of saving and resuming), `deepspeed_config`, and `main`,
the shell that `thyme sft` runs. Importing the package imports nothing heavy.
"""
