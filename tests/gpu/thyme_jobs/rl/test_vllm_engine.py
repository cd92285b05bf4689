"""The vLLM engine on the tiny model (GPU extra; skipped without CUDA, never run in CI)."""

from __future__ import annotations

import io

import pytest

from thyme_jobs.agent import thyme_code
from thyme_jobs.agent.loop import Sampling, Trajectory


def test_vllm_engine_greedy_code_spans_are_deterministic_and_stop_on_strings(tmp_path) -> None:
    pytest.importorskip("vllm")
    from PIL import Image

    from thyme_jobs import tinymodel
    from thyme_jobs.agent.encoding import TrajectoryEncoder
    from thyme_jobs.agent.engines import VLLMEngine
    from thyme_jobs.modelio.processor import load_processor

    model_dir = tinymodel.build(tmp_path / "model")
    out = io.BytesIO()
    Image.linear_gradient("L").resize((224, 168)).convert("RGB").save(out, "JPEG")
    engine = VLLMEngine(model_dir, TrajectoryEncoder(load_processor(model_dir), None), max_images=10, seed=0,
                        gpu_memory_utilization=0.2, max_model_len=2048)
    batch = [Trajectory(f"t{i}", "p", "<image>\nWhat?", [out.getvalue()]) for i in range(4)]
    greedy = engine.generate(batch, Sampling(0.0, 16, thyme_code.CODE_STOPS), seed=0)
    again = engine.generate(batch, Sampling(0.0, 16, thyme_code.CODE_STOPS), seed=7)
    assert [g.text for g in greedy] == [g.text for g in again]
    assert all(g.finish_reason in ("stop", "eos", "length") for g in greedy)
