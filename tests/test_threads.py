"""backend.config.threads: the CPU accounting, the thread decision, the governor's timing, the
entry-point policy (the user's environment wins), and that the long loops call it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from backend.config import threads
from backend.config.threads import CpuSample, Policy, ThreadGovernor, other_cores, parse_proc_stat, threads_for

PROC_STAT = """cpu  900 90 300 5000 50 10 20 30 0 0
cpu0 100 10 50 1000 10 1 2 3 0 0
cpu1 200 20 60 2000 20 2 4 6 0 0
cpu2 300 30 70 3000 30 3 6 9 0 0
intr 12345 0 0
ctxt 999
"""


def test_proc_stat_sums_only_the_allowed_cpus():
    # cpu0: busy 100+10+50+1+2+3 = 166, total 166+1000+10 = 1176
    # cpu2: busy 300+30+70+3+6+9 = 418, total 418+3000+30 = 3448
    assert parse_proc_stat(PROC_STAT, {0, 2}) == (166 + 418, 1176 + 3448)
    assert parse_proc_stat(PROC_STAT, {7}) == (0, 0)


def test_other_cores_subtracts_this_process():
    # 2 CPUs, 100 ticks/s, 1 s: 200 ticks in all, 150 busy = 1.5 cores, of which 0.5 s ours
    before = CpuSample(busy_ticks=1000, total_ticks=5000, own_seconds=2.0, cpus=2)
    after = CpuSample(busy_ticks=1150, total_ticks=5200, own_seconds=2.5, cpus=2)
    assert other_cores(before, after, 100.0) == pytest.approx(1.0)
    assert other_cores(after, after, 100.0) is None  # no time passed


@pytest.mark.parametrize(
    "others, cpus, ceiling, reserve, expected",
    [
        (0.0, 2, 2, 0, 2),  # idle: torch's default
        (0.2, 2, 2, 0, 2),  # a little background is not worth a thread
        (0.67, 2, 2, 0, 1),  # one busy process sharing with our two spinning threads
        (1.0, 2, 2, 0, 1),  # one busy process, we run one thread
        (2.0, 2, 2, 0, 1),  # never fewer than one
        (0.0, 8, 4, 0, 4),  # 8 logical CPUs, 4 physical cores: the ceiling
        (2.0, 8, 4, 0, 3),  # 2 logical CPUs busy = one physical core
        (0.0, 4, 4, 1, 3),  # a desktop-app job leaves one core to the app
    ],
)
def test_threads_for(others, cpus, ceiling, reserve, expected):
    assert threads_for(others, cpus, ceiling, reserve) == expected


class FakeCpu:
    """A clock and a /proc/stat where other processes use ``others`` cores (2 CPUs, 100 Hz)."""

    def __init__(self):
        self.now, self.others, self.busy, self.total, self.calls = 0.0, 0.0, 0, 0, 0

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.total += int(200 * seconds)
        self.busy += int(100 * seconds * self.others)

    def sample(self) -> CpuSample:
        self.calls += 1
        return CpuSample(self.busy, self.total, 0.0, 2)


def test_governor_follows_other_processes_at_its_interval():
    cpu, set_to = FakeCpu(), []
    gov = ThreadGovernor(
        ceiling=2, interval_s=2.0, sample=cpu.sample, set_threads=set_to.append, clock=lambda: cpu.now, ticks_per_s=100.0
    )
    assert gov.adapt() == 2 and cpu.calls == 1  # first call: a reference sample only
    cpu.others = 1.0
    cpu.advance(1.0)
    assert gov.adapt() == 2 and cpu.calls == 1  # not due yet: no /proc read
    cpu.advance(1.0)
    assert gov.adapt() == 1 and set_to == [1]
    cpu.others = 0.0
    cpu.advance(2.0)
    assert gov.adapt() == 2 and set_to == [1, 2]
    cpu.advance(2.0)
    assert gov.adapt() == 2 and set_to == [1, 2]  # unchanged: no call


def test_governor_leaves_the_apps_core_from_the_start():
    cpu, set_to = FakeCpu(), []
    gov = ThreadGovernor(
        ceiling=4, reserve=1, sample=cpu.sample, set_threads=set_to.append, clock=lambda: cpu.now, ticks_per_s=100.0
    )
    assert set_to == [3] and gov.adapt() == 3


def test_governor_without_proc_stat_keeps_threads():
    set_to = []
    gov = ThreadGovernor(ceiling=2, interval_s=0.0, sample=lambda: None, set_threads=set_to.append)
    assert [gov.adapt() for _ in range(3)] == [2, 2, 2] and set_to == []


@pytest.fixture
def fresh_policy(monkeypatch):
    monkeypatch.setattr(threads, "_policy", None)
    monkeypatch.setattr(threads, "_governor", None)
    for var in (*threads.USER_THREAD_VARS, threads.SWITCH_VAR):
        monkeypatch.delenv(var, raising=False)
    yield monkeypatch
    threads.reset()


def test_policy_respects_the_users_environment(fresh_policy):
    assert threads.configure_process() == Policy(adaptive=True)
    fresh_policy.setenv("OMP_NUM_THREADS", "3")
    assert threads.configure_process() == Policy(adaptive=False)
    fresh_policy.delenv("OMP_NUM_THREADS")
    fresh_policy.setenv("DIFFGEN_THREADS", "fixed")
    assert threads.configure_process().adaptive is False


def test_desktop_jobs_leave_a_core_only_where_there_are_more_than_two(fresh_policy):
    fresh_policy.setattr(threads, "allowed_cpus", lambda: {0, 1, 2, 3})
    assert threads.configure_process(gui_job=True).reserve == 1
    fresh_policy.setattr(threads, "allowed_cpus", lambda: {0, 1})
    assert threads.configure_process(gui_job=True).reserve == 0


def test_adapt_does_nothing_before_an_entry_point_configured_it(fresh_policy):
    threads.adapt()
    assert threads._governor is None
    fresh_policy.setenv("OMP_NUM_THREADS", "1")
    threads.configure_process()
    threads.adapt()
    assert threads._governor is None


def test_adapt_after_configure_process_governs_torch(fresh_policy):
    before = torch.get_num_threads()
    threads.configure_process()
    threads.adapt()
    assert threads._governor is not None and threads._governor.ceiling == before
    threads._governor.threads = 1  # as if it had shrunk: reset restores the default
    torch.set_num_threads(1)
    threads.reset()
    assert torch.get_num_threads() == before and threads._governor is None


def test_module_does_not_import_torch():
    code = "import sys, backend.config.threads; assert 'torch' not in sys.modules, 'torch imported'"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc/stat")
def test_a_busy_process_shows_up_as_other_cores():
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        before = threads.read_sample()
        time.sleep(1.0)  # this process idles: the busy one is "other"
        after = threads.read_sample()
    finally:
        proc.kill()
        proc.wait()
    assert before is not None and after is not None
    assert other_cores(before, after, threads.ticks_per_second()) >= 0.5


def test_repaint_loop_adapts_threads_every_model_call(monkeypatch):
    from backend.config.presets import load_preset
    from backend.diffusion.config import DiffusionConfig
    from backend.diffusion.samplers import base
    from backend.diffusion.samplers.repaint import RePaintSampler

    calls = []
    monkeypatch.setattr(base, "adapt_threads", lambda: calls.append(1))
    sampler = RePaintSampler(4, 2, 2)
    diffusion = sampler.set_timesteps(DiffusionConfig.from_dict(load_preset("tiny")["diffusion"]))
    row = base.Row(torch.zeros(4, 8, 8), torch.ones(1, 8, 8), 0)

    def model(x, t):
        return torch.zeros(x.shape[0], 8, *x.shape[2:])  # eps and the learned-sigma channels

    base.sample_batch(model, sampler, diffusion, [row])
    assert len(calls) == len(sampler.times()) - 1


def test_benchmark_pairs_idle_rates_by_round():
    """The benchmark's paired ratio: per round adaptive/default, then the median (hand-computed)."""
    from benchmarks.threads import paired_idle

    def run(train: float, repaint: float) -> dict[str, float]:
        return {"train idle": train, "repaint idle": repaint}

    results = {
        "default": [run(2.0, 2.0), run(1.0, 4.0), run(3.0, 1.0)],
        "adaptive": [run(1.0, 2.2), run(1.0, 4.0), run(3.3, 0.5)],
    }
    assert paired_idle(results, [0, 1, 2]) == "idle, paired by round (median of 3): train adaptive 1.00x, repaint adaptive 1.00x"
    assert paired_idle(results, [0, 2]) == "idle, paired by round (median of 2): train adaptive 0.80x, repaint adaptive 0.80x"
    assert paired_idle({"adaptive": results["adaptive"]}, [0]) == ""
