"""Generation engines behind the agent loop's `Engine` protocol: transformers on CPU, vLLM on GPUs.

Both take trajectories and a `Sampling` and return text cut at the first stop string,
which stays in the text. Stop strings are plain Python strings handed to the engine (a
stopping criterion for transformers, `SamplingParams.stop` for vLLM), never a shell
argument: the reference lost `<code>` stopping to backslashes in `'\\<code\\>'` (research
notes section 8, item 2).

Temperature 0 means greedy decoding in both engines, which is what makes a code span
deterministic for a fixed context. Text is decoded without special tokens, so a random
or confused model cannot smuggle `<|image_pad|>` (an image with no pixels) into the
context.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import StoppingCriteria

from thyme_jobs.agent.encoding import TrajectoryEncoder
from thyme_jobs.agent.loop import Generation, Sampling, Trajectory, cut_at_stop

log = logging.getLogger(__name__)


class EngineUnavailable(RuntimeError):
    """The requested engine cannot run here (vLLM not installed, no GPU)."""


class TextStop(StoppingCriteria):
    """A transformers StoppingCriteria: stop once the generated text contains a stop string.

    Only the tail of the generation is decoded each step: a stop string of n characters
    spans at most n tokens.
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(stops)
        self.prompt_len = prompt_len
        self.window = max((len(s) for s in stops), default=1) + 2

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = []
        for row in input_ids:
            tail = row[max(self.prompt_len, row.shape[0] - self.window):]
            text = self.tokenizer.decode(tail, skip_special_tokens=False)
            done.append(any(s in text for s in self.stops))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class TransformersEngine:
    """`model.generate` one trajectory at a time (CPU tests and small runs).

    One at a time because trajectories carry different images and lengths; it also makes
    every request's result independent of what else is in the batch.
    """

    def __init__(self, model: Any, encoder: TrajectoryEncoder) -> None:
        self.model = model
        self.encoder = encoder
        self.tokenizer = encoder.processor.tokenizer
        self._special = [t for t in self.tokenizer.all_special_tokens if t]

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        return [self._one(t, sampling, seed + i) for i, t in enumerate(requests)]

    @torch.no_grad()
    def _one(self, t: Trajectory, sampling: Sampling, seed: int) -> Generation:
        from transformers import GenerationConfig, StoppingCriteriaList

        device = next(self.model.parameters()).device
        inputs = self.encoder.model_inputs(self.encoder.context_text(t), self.encoder.images(t))
        inputs = {k: v.to(device) for k, v in inputs.items()}
        prompt_len = inputs["input_ids"].shape[1]
        eos = self.model.generation_config.eos_token_id
        options: dict[str, Any] = dict(
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
            do_sample=sampling.temperature > 0,
        )
        if sampling.temperature > 0:
            options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
            torch.manual_seed(seed)
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.model.generate(
                **inputs,
                generation_config=GenerationConfig(**options),
                stopping_criteria=StoppingCriteriaList([TextStop(self.tokenizer, sampling.stop, prompt_len)]),
            )
        finally:
            self.model.train(was_training)
        new = out[0, prompt_len:].tolist()
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        ended = bool(new) and new[-1] in eos_ids
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        for token in self._special:
            text = text.replace(token, "")
        text, stop = cut_at_stop(text, sampling.stop)
        if stop is not None:
            return Generation(text, "stop", stop)
        return Generation(text, "eos" if ended else "length")


class BatchedTransformersEngine(TransformersEngine):
    """`model.generate` over up to `batch_size` trajectories at once, left-padded.

    For evaluation, where greedy decoding of many independent items dominates: on CPU a
    tiny model's step costs about the same for one sequence as for sixteen, so one call
    for the batch instead of one per item is most of the speed-up. A row that hits its
    stop string is finished by transformers (its later tokens are padding) while the
    others go on. Batched greedy results can differ from one-at-a-time ones in the last
    bits of the logits; RL keeps the one-at-a-time engine, whose results do not depend on
    the batch.
    """

    def __init__(self, model: Any, encoder: TrajectoryEncoder, batch_size: int = 16) -> None:
        super().__init__(model, encoder)
        self.batch_size = batch_size

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        out: list[Generation] = []
        for start in range(0, len(requests), self.batch_size):
            out += self._batch(list(requests[start:start + self.batch_size]), sampling, seed + start)
        return out

    @torch.no_grad()
    def _batch(self, batch: list[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        from transformers import GenerationConfig, StoppingCriteriaList

        if len(batch) == 1:
            return [self._one(batch[0], sampling, seed)]
        device = next(self.model.parameters()).device
        texts = [self.encoder.context_text(t) for t in batch]
        images = [img for t in batch for img in self.encoder.images(t)]
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            inputs = dict(self.encoder.processor(text=texts, images=images or None, return_tensors="pt", padding=True))
        finally:
            self.tokenizer.padding_side = side
        inputs = {k: v.to(device) for k, v in inputs.items()}
        prompt_len = inputs["input_ids"].shape[1]
        eos = self.model.generation_config.eos_token_id
        options: dict[str, Any] = dict(max_new_tokens=sampling.max_new_tokens, eos_token_id=eos,
                                       pad_token_id=self.tokenizer.pad_token_id, do_sample=sampling.temperature > 0)
        if sampling.temperature > 0:
            options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
            torch.manual_seed(seed)
        criteria = [TextStop(self.tokenizer, sampling.stop, prompt_len)] if sampling.stop else []
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.model.generate(**inputs, generation_config=GenerationConfig(**options),
                                      stopping_criteria=StoppingCriteriaList(criteria))
        finally:
            self.model.train(was_training)
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        results = []
        for row in out[:, prompt_len:].tolist():
            ended_at = next((i for i, tok in enumerate(row) if tok in eos_ids), None)
            new = row if ended_at is None else row[: ended_at + 1]
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            for token in self._special:
                text = text.replace(token, "")
            text, stop = cut_at_stop(text, sampling.stop)
            if stop is not None:
                results.append(Generation(text, "stop", stop))
            else:
                results.append(Generation(text, "eos" if ended_at is not None else "length"))
        return results


class VLLMEngine:
    """vLLM's offline `LLM` colocated with the trainer (GPU extra; untested on CPU machines)."""

    def __init__(self, model_dir: Path, encoder: TrajectoryEncoder, *, max_images: int, seed: int,
                 gpu_memory_utilization: float = 0.4, max_model_len: int = 10240) -> None:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise EngineUnavailable(
                "engine 'vllm' needs vLLM, which comes with the GPU extra (pip install 'thyme-k8s[gpu]'); "
                "set engine: transformers to generate with transformers instead"
            ) from exc
        self.encoder = encoder
        options: dict[str, Any] = {}
        if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            # one engine per torchrun process, on that process's GPU, inside torchrun's
            # process group instead of a group of vLLM's own (TRL's colocate mode does the same)
            options["distributed_executor_backend"] = "external_launcher"
            seed += torch.distributed.get_rank()
        self.llm = LLM(
            model=str(model_dir),
            limit_mm_per_prompt={"image": max_images},
            seed=seed,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enable_prefix_caching=True,
            **options,
        )

    def generate(self, requests: Sequence[Trajectory], sampling: Sampling, seed: int) -> list[Generation]:
        from vllm import SamplingParams

        prompts = []
        for t in requests:
            prompt: dict[str, Any] = {"prompt": self.encoder.context_text(t)}
            images = self.encoder.images(t)
            if images:
                prompt["multi_modal_data"] = {"image": images}
            prompts.append(prompt)
        params = [
            SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p if sampling.temperature > 0 else 1.0,
                top_k=sampling.top_k if sampling.temperature > 0 and sampling.top_k > 0 else -1,
                max_tokens=sampling.max_new_tokens,
                stop=list(sampling.stop),
                include_stop_str_in_output=True,
                skip_special_tokens=True,
                seed=seed + i,
            )
            for i in range(len(requests))
        ]
        results = []
        for out in self.llm.generate(prompts, params, use_tqdm=False):
            completion = out.outputs[0]
            text, stop = cut_at_stop(completion.text, sampling.stop)
            reason = "stop" if stop else ("length" if completion.finish_reason == "length" else "eos")
            results.append(Generation(text, reason, stop))
        return results

    def sync_weights(self, model: Any) -> None:
        """Load the policy's current weights into vLLM's copy after an update."""
        executor = self.llm.llm_engine.model_executor
        worker = executor.driver_worker
        runner = getattr(worker, "model_runner", None) or worker.worker.model_runner
        runner.model.load_weights(((name, p.data) for name, p in model.named_parameters()))


def resolve(kind: str) -> str:
    """`auto` means vLLM when CUDA and vLLM are both present, else transformers."""
    if kind != "auto":
        return kind
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "transformers"
    return "vllm" if torch.cuda.is_available() else "transformers"


def build_engine(kind: str, *, model: Any, model_dir: Path, encoder: TrajectoryEncoder, max_images: int, seed: int) -> Any:
    if resolve(kind) == "vllm":
        return VLLMEngine(model_dir, encoder, max_images=max_images, seed=seed)
    return TransformersEngine(model, encoder)
