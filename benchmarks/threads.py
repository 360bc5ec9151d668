"""CPU threads under load: training steps/s and RePaint samples/s, idle and while one other
process keeps a core busy, for torch's default threads and for the adaptive policy of
``backend.config.threads`` (issue 17 goal: >= 0.55 of the idle speed under load, idle within 5 %).

Each policy runs in a fresh process that sets up its threads the way the diffgen entry points
do (``configure_process`` before torch loads; ``DIFFGEN_THREADS=fixed`` keeps torch's default).
Within a process, each loop is measured idle and then with a busy competitor (``while True:
pass`` in another process); the measured window starts after the policy had time to adapt.
Figures are medians over ``--repeats`` rounds that alternate the policies, counting only the
rounds whose idle windows were really idle (other processes under 0.3 cores) when there are any.

    python -m benchmarks.threads [--seconds 6] [--repeats 2] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

from benchmarks._common import Figure, report

BENCH = "threads"
RESULT_PREFIX = "@@threads "
POLICIES = {
    "default": {"DIFFGEN_THREADS": "fixed"},
    "adaptive": {"DIFFGEN_THREADS": "auto"},
    "one thread": {"OMP_NUM_THREADS": "1"},
}
TASKS = {"train": "steps/s", "repaint": "samples/s"}


@contextmanager
def busy_competitor(start_s: float) -> Iterator[None]:
    """Another process that keeps one core busy for the duration (given ``start_s`` to start)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(start_s)
        yield
    finally:
        proc.kill()
        proc.wait()


def window_rate(step: Callable[[float], float], warmup_s: float, seconds: float) -> tuple[float, float, float]:
    """Work units per second of repeated ``step(deadline)`` (returns the units it did, and
    stops at the deadline) after ``warmup_s``, the cores other processes used meanwhile and
    the mean thread count over the steps."""
    import torch

    from backend.config.threads import other_cores, read_sample, ticks_per_second

    end_warmup = time.perf_counter() + warmup_s
    while time.perf_counter() < end_warmup:
        step(end_warmup)
    before, start, done, used = read_sample(), time.perf_counter(), 0.0, []
    while time.perf_counter() - start < seconds:
        used.append(torch.get_num_threads())
        done += step(start + seconds)
    rate, after = done / (time.perf_counter() - start), read_sample()
    others = other_cores(before, after, ticks_per_second()) if before and after else None
    return rate, -1.0 if others is None else others, statistics.mean(used)


def train_loop(smoke: bool) -> Callable[[float], float]:
    """One training step of the tiny preset per call (as ``Trainer.train``), adapting threads."""
    import torch

    from backend.config import threads
    from backend.config.presets import load_preset
    from backend.diffusion.config import DiffusionConfig, ModelConfig
    from backend.diffusion.gaussian import create_diffusion
    from backend.diffusion.model import build_model
    from backend.diffusion.training import train_step

    p = load_preset("tiny")
    cfg = ModelConfig.from_dict(p["model"])
    diffusion = create_diffusion(DiffusionConfig.from_dict(p["diffusion"]), "")
    torch.manual_seed(0)
    model = build_model(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = 2 if smoke else int(p["train"]["batch_size"])
    x0 = torch.rand(batch, cfg.in_channels, cfg.image_size, cfg.image_size) * 2 - 1

    def step(_deadline: float) -> float:
        threads.adapt()
        t = torch.randint(0, diffusion.num_timesteps, (batch,))
        train_step(model, diffusion, opt, x0, t, torch.randn_like(x0))
        return 1.0

    return step


def repaint_loop(smoke: bool) -> Callable[[float], float]:
    """One RePaint chain of 3 samples per call, cut at the deadline (``sample_batch`` adapts
    threads itself); returns the samples' worth of work done, counted per model evaluation."""
    import torch

    from backend.config.presets import load_preset
    from backend.diffusion.config import DiffusionConfig, ModelConfig
    from backend.diffusion.model import build_model
    from backend.diffusion.samplers.base import Row, sample_batch
    from backend.diffusion.samplers.repaint import RePaintSampler
    from backend.errors import Cancelled

    p = load_preset("tiny")
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict(p["model"])).eval()
    sampler = RePaintSampler(5 if smoke else 20, 2 if smoke else 5, 2)
    diffusion = sampler.set_timesteps(DiffusionConfig.from_dict(p["diffusion"]))
    size = model.cfg.image_size
    keep = torch.ones(1, size, size)
    keep[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 0
    rows = [Row(torch.rand(4, size, size) * 2 - 1, keep, seed) for seed in range(3)]
    per_sample = sampler.evaluations()

    def step(deadline: float) -> float:
        done = [0]
        try:
            sample_batch(
                model,
                sampler,
                diffusion,
                rows,
                on_step=lambda n: done.__setitem__(0, done[0] + n),
                cancel=lambda: time.perf_counter() > deadline,
            )
        except Cancelled:  # the window ended mid-chain: count the evaluations made
            pass
        return done[0] / per_sample

    return step


def worker(seconds: float, smoke: bool) -> dict[str, float]:
    """This process's rates: ``{"train idle": ..., "train busy": ..., ...}``."""
    from backend.config import threads

    threads.configure_process()  # before torch loads, as the entry points do
    import torch

    warmup = 0.1 if smoke else threads.INTERVAL_S * 1.5
    rates: dict[str, float] = {"default threads": float(torch.get_num_threads())}
    for task, build in (("train", train_loop), ("repaint", repaint_loop)):
        step = build(smoke)
        for load in ("idle", "busy"):
            threads.reset()
            with busy_competitor(warmup) if load == "busy" else nullcontext():
                rates[f"{task} {load}"], rates[f"{task} {load} others"], rates[f"{task} {load} threads"] = window_rate(
                    step, warmup, seconds
                )
    return rates


def run_worker(policy: str, seconds: float, smoke: bool) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DIFFGEN_THREADS")}
    env.update(POLICIES[policy])
    cmd = [sys.executable, "-m", "benchmarks.threads", "--worker", "--seconds", str(seconds)] + (["--smoke"] if smoke else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"threads worker ({policy}) failed (rc {out.returncode}): {out.stderr[-2000:]}")


def clean_rounds(results: dict[str, list[dict[str, float]]]) -> tuple[list[int], str]:
    """Rounds in which no idle window saw other processes use 0.3 cores or more (the machine
    was really idle), else all rounds; and a note saying which."""
    rounds = list(range(len(next(iter(results.values())))))
    clean = [r for r in rounds if all(0 <= runs[r][f"{t} idle others"] < 0.3 for runs in results.values() for t in TASKS)]
    if clean:
        return clean, f"medians of the {len(clean)} of {len(rounds)} rounds whose idle windows were idle"
    return rounds, (
        f"medians of {len(rounds)} rounds; no round was idle (other processes used 0.3 cores or "
        "more in an idle window), so 'idle' includes that background load"
    )


def figures(results: dict[str, list[dict[str, float]]], rounds: list[int]) -> list[Figure]:
    """Medians over ``rounds`` per policy; every rate against the first policy's idle rate."""
    med = {p: {k: statistics.median(runs[r][k] for r in rounds) for k in runs[0]} for p, runs in results.items()}
    first = next(iter(med))
    out = []
    for task, unit in TASKS.items():
        base = med[first][f"{task} idle"]
        for policy, m in med.items():
            for load in ("idle", "busy"):
                used, others = m[f"{task} {load} threads"], m[f"{task} {load} others"]
                out.append(
                    Figure(
                        f"{task} {load}, {policy} ({used:.1f} threads on average; other processes used {others:.1f} cores)",
                        m[f"{task} {load}"],
                        unit,
                        base,
                        f"{first} idle",
                    )
                )
    return out


def paired_idle(results: dict[str, list[dict[str, float]]], rounds: list[int]) -> str:
    """Each policy's idle rate over the first policy's in the same round, median per task:
    the rounds run seconds apart, so this ratio is not moved by the machine's speed drifting
    between rounds (seen: 30 % within an hour), as the ratio of medians is."""
    first, *others = results

    def ratio(policy: str, task: str) -> float:
        key = f"{task} idle"
        return statistics.median(results[policy][r][key] / results[first][r][key] for r in rounds)

    parts = [f"{task} {policy} {ratio(policy, task):.2f}x" for policy in others for task in TASKS]
    return f"idle, paired by round (median of {len(rounds)}): " + ", ".join(parts) if parts else ""


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="measured seconds per loop and load")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--policies", nargs="+", default=["default", "adaptive"], choices=list(POLICIES))
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one short round")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.smoke:  # one short round of the chosen policy: checks that it runs, in seconds
        a.seconds, a.repeats, a.policies = min(a.seconds, 0.2), 1, ["adaptive"]
    if a.worker:
        print(RESULT_PREFIX + json.dumps(worker(a.seconds, a.smoke)), flush=True)
        return []
    policies = list(dict.fromkeys(a.policies))
    results: dict[str, list[dict[str, float]]] = {p: [] for p in policies}
    for _ in range(a.repeats):
        for policy in policies:
            results[policy].append(run_worker(policy, a.seconds, a.smoke))
            print(f"  ({policy}: {json.dumps(results[policy][-1])})", file=sys.stderr, flush=True)
    cores = int(results[policies[0]][0]["default threads"])
    rounds, which = clean_rounds(results)
    paired = paired_idle(results, rounds)
    return report(
        BENCH,
        figures(results, rounds),
        f"{cores} torch threads by default; {which}"
        + (f"; {paired}" if paired else "")
        + "; goal: busy >= 0.55x and adaptive idle >= 0.95x of default idle",
    )


if __name__ == "__main__":
    main()
