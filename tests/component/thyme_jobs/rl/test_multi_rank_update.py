"""The GRPO update over two real gloo processes equals one process doing the whole batch.

Each case runs `rank_worker.py` under torchrun: two ranks, one prompt group each, one
step, the update's state saved and loaded into a differently initialised model, a second
step. The weights every rank ends with must be those of a single process taking both
steps on all four trajectories: gradient averaging, the loss weighting over ranks,
skipped (plain) or zero-weight (DeepSpeed lockstep) trajectories and checkpoint resume
all have to be right for that to hold. DeepSpeed runs on CPU (`DS_ACCELERATOR=cpu`,
gloo); its first start on a machine compiles its shared-memory collective (about a
minute on two cores, then cached in ~/.cache/torch_extensions).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from testenv.processes import free_port  # torchrun's static rendezvous needs a real port, not 0
from thyme_jobs.rl import advantages, grpo

from unit.thyme_jobs.rl.rl_fixtures import TinyLM, two_groups

WORKER = Path(__file__).with_name("rank_worker.py")
ROOT = Path(__file__).parents[4]
NO_DEEPSPEED = "deepspeed is not installed (pip install deepspeed; it builds no ops at install time)"
DEEPSPEED = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason=NO_DEEPSPEED)


def torchrun_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment with this checkout's sources and tests first, one thread per rank."""
    env = dict(os.environ)
    paths = [str(ROOT / part) for part in ("operator", "jobs", "sandbox", "cli", "tests")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    # the CPU path even on a machine with GPUs; the venv's bin on PATH, as activating it would
    # do, for the ninja DeepSpeed compiles its shared-memory collective with
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "DS_ACCELERATOR": "cpu", "CUDA_VISIBLE_DEVICES": "",
                "MASTER_ADDR": "127.0.0.1", "PATH": os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])})
    env.update(extra or {})
    return env


def single_process_weights(device: str = "cpu") -> dict[str, torch.Tensor]:
    """What the ranks must end with: one process taking both steps on the whole batch (weights on the CPU)."""
    torch.manual_seed(0)
    policy = TinyLM().to(device)
    reference = TinyLM().to(device)
    reference.load_state_dict(policy.state_dict())
    reference.requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-2)
    batch, rewards = two_groups()
    adv = advantages.group_advantages(rewards, 2)
    for _ in range(2):
        grpo.grpo_step(policy, reference, optimizer, batch, adv, clip_epsilon=0.2, kl_beta=0.01)
    return {k: v.cpu() for k, v in policy.state_dict().items()}


ULPS = 16
"""How far apart float arithmetic lets two correct runs end, in units in the last place.

Two ranks sum each gradient in another order than one process does (each rank sums its
own trajectories, then the all-reduce adds the two sums; DeepSpeed reduce-scatters in
buckets), and float addition is not associative: a gradient element can differ in its
last bits, and which bits depends on the CPU (the width of its vector kernels changes
the order inside every sum). AdamW divides each gradient by its own running magnitude,
so those bits barely change the step, but the new weight `w - lr * step` is rounded to
float32, and a step that differs in its last bit can land on the neighbouring float:
about one ulp of |w| per step and tensor, here two steps, with gradient clipping's norm
(itself a sum) and the reference's KL term adding a few more. 16 ulps of the weights'
scale bounds that with room; a real fault (a wrong weighting over ranks, a skipped
trajectory counted, a lost optimizer state on resume) moves weights by a fraction of
the learning rate, 1e-2, four orders of magnitude more. Bit equality held on one
machine and failed on another by one ulp in 7 of 192 elements."""


def assert_equal_up_to_rounding(got: torch.Tensor, want: torch.Tensor) -> None:
    eps = torch.finfo(torch.float32).eps
    scale = max(float(want.abs().max()), 1.0)   # these weights are O(1): initialised within a few units
    torch.testing.assert_close(got, want, rtol=ULPS * eps, atol=ULPS * eps * scale)


@pytest.mark.parametrize("kind", ["plain", pytest.param("zero2", marks=DEEPSPEED),
                                  pytest.param("zero3", marks=DEEPSPEED)])
def test_two_ranks_update_like_one_process_and_resume_exactly(kind, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         str(WORKER), kind, str(tmp_path)],
        env=torchrun_env(), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    want = single_process_weights()
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for got in results:
        assert got["world_size"] == 2
        assert got["first"]["trajectories"] == 3  # the one without policy tokens counts nowhere
        for name, value in want.items():
            assert_equal_up_to_rounding(got["weights"][name], value)
    assert results[0]["first"] == results[1]["first"] and results[0]["second"] == results[1]["second"]


LEAVE_THE_GROUP = """
import os
import torch
from thyme_jobs.rl import ranks

def threads():
    return len(os.listdir("/proc/self/task"))

before = threads()
started = ranks.start(ranks.World(), group=True)
during = threads()
torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())  # the first optimizer imports torch's compiler stack
ranks.stop(started)
print(before, during, threads())
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")
def test_leaving_the_group_joins_its_threads() -> None:
    """A gloo group left alive past `stop` aborts the rank at interpreter exit, now and
    then, after its work is done (see `thyme_jobs.process_group`); a fresh interpreter,
    since which modules were imported before the group started is what matters."""
    done = subprocess.run([sys.executable, "-c", LEAVE_THE_GROUP], env=torchrun_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    before, during, after = map(int, done.stdout.split())
    assert during > before  # the group's threads did start
    assert after == before
