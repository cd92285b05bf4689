"""DeepEyes: the zoom-in tool protocol, its box rules and its reward (docs/deepeyes.md).

Pure modules (strings, numbers and image bytes in and out); the agent loop and the RL
stage put them together.
"""
