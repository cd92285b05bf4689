"""Model I/O shared by the stages that load, train or evaluate a model.

`checkpoints` (upload, commit, find and fetch checkpoints and HF model directories in the
store), `processor` (the Qwen-VL processor with or without torchvision), `formatting`
(a row or prompt as the chat the model reads), `freezing` (the vision tower),
`deepspeed_config` (ZeRO configs). Stages (`sft`, `rl`, `eval`) import these; nothing
here imports a stage. Importing the package imports nothing heavy.
"""
