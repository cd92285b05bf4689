"""Vision tool servers with OpenThinkIMG's worker API, one process (one Deployment) per tool.

OpenThinkIMG serves each vision tool (crop, draw a line, zoom into a subfigure, OCR,
detection, segmentation, pointing) as its own worker behind a controller that learns
addresses from heartbeats. Here a worker is ready only once its model is loaded, the
Kubernetes Services are the registry, and a small controller-compatible front lets
OpenThinkIMG's own `ToolManager` client find the workers unchanged.

Layout: `codes` (error codes), `protocol` (HTTP bodies), `images`, `params` (parsing
the `param` string), `drawing` and `subfigures` (pure image work), `tools` (the tool
interface and the CPU tools), `registry` (name -> tool), `worker` and `front` (the two
HTTP apps), `client` (what loops and benchmarks call), `models/` (the model-backed tools;
the only place that imports torch or transformers).
"""
