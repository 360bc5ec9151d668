"""How many CPU threads torch uses: set up before torch loads, re-sized while long loops run.

Why: PyTorch's OpenMP threads spin-wait for each other at the end of every parallel region.
When another process keeps a core busy, the thread that lost its core stalls all the others:
training ran 8-10x slower on a 2-core machine with one busy core (issue 17). No fixed setting
wins both ways (one thread keeps 0.63 of the idle speed under load but loses a third of it
when idle; ``OMP_WAIT_POLICY=PASSIVE`` costs 30 % idle), so the long loops (training, RePaint,
style) call :func:`adapt`. Every few seconds it sets ``torch.set_num_threads`` to the cores
that other processes leave idle: busy time of this process's CPUs (``/proc/stat``, restricted
to ``os.sched_getaffinity``) minus this process's own CPU time. Idle, torch keeps its default.

Only the diffgen entry points (CLI, desktop app, job child) call :func:`configure_process`;
until then :func:`adapt` does nothing, so library use, tests and notebooks keep torch's own
behaviour. The user's choice wins: with ``OMP_NUM_THREADS`` set, or ``DIFFGEN_THREADS=fixed``,
the thread count is never changed. This module never imports torch at import time.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

INTERVAL_S = 2.0  # how often the loops re-size (a decision needs this much CPU history)
SLACK = 0.3  # a core counts as free when other processes use less than 70 % of it
USER_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
SWITCH_VAR = "DIFFGEN_THREADS"  # auto (default): adapt | fixed: torch's default, never changed


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU time of the CPUs this process may run on, and of this process."""

    busy_ticks: int  # user + nice + system + irq + softirq + steal, summed over those CPUs
    total_ticks: int  # busy + idle + iowait
    own_seconds: float  # this process's user + system time (all its threads)
    cpus: int


@dataclass(frozen=True)
class Policy:
    """What :func:`configure_process` decided for this process."""

    adaptive: bool
    reserve: int = 0  # cores left to the desktop app while a job runs


_policy: Policy | None = None
_governor: "ThreadGovernor | None" = None


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on (all of them where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def parse_proc_stat(text: str, cpus: set[int]) -> tuple[int, int]:
    """(busy, total) ticks summed over the ``cpuN`` lines of ``/proc/stat`` with N in ``cpus``."""
    busy = total = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in rest.split()[:8])
        work = user + nice + system + irq + softirq + steal
        busy += work
        total += work + idle + iowait
    return busy, total


def read_sample(cpus: set[int] | None = None) -> CpuSample | None:
    """The current :class:`CpuSample`, or None where ``/proc/stat`` is not available."""
    cpus = allowed_cpus() if cpus is None else cpus
    try:
        with open("/proc/stat", encoding="ascii") as f:
            busy, total = parse_proc_stat(f.read(), cpus)
    except (OSError, ValueError):
        return None
    t = os.times()
    return CpuSample(busy, total, t.user + t.system, len(cpus)) if total else None


def other_cores(before: CpuSample, after: CpuSample, ticks_per_s: float) -> float | None:
    """Cores' worth of CPU time that other processes used between two samples."""
    wall_ticks = (after.total_ticks - before.total_ticks) / max(after.cpus, 1)
    if wall_ticks <= 0:
        return None
    busy = (after.busy_ticks - before.busy_ticks) / wall_ticks
    own = (after.own_seconds - before.own_seconds) * ticks_per_s / wall_ticks
    return max(0.0, busy - own)


def threads_for(others: float, cpus: int, ceiling: int, reserve: int = 0) -> int:
    """Threads for the cores the others leave free: ``ceiling`` (torch's default, one per
    physical core) when idle, at least one. Logical CPUs scale to the ceiling's cores."""
    free = (cpus - others) * ceiling / max(cpus, 1) - reserve
    return max(1, min(ceiling - reserve, math.floor(free + SLACK)))


class ThreadGovernor:
    """Re-sizes torch's threads from observed idle cores, at most every ``interval_s``."""

    def __init__(
        self,
        ceiling: int,
        reserve: int = 0,
        interval_s: float = INTERVAL_S,
        sample: Callable[[], CpuSample | None] = read_sample,
        set_threads: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        ticks_per_s: float | None = None,
    ):
        self.ceiling, self.reserve, self.interval_s = ceiling, reserve, interval_s
        self._sample, self._clock = sample, clock
        self._set = set_threads or _torch_set_threads
        self.ticks_per_s = ticks_per_s or ticks_per_second()
        self.threads = ceiling
        self._last: CpuSample | None = None
        self._due = clock()
        if reserve:  # the app's core is left free from the start, not after the first interval
            self._use(max(1, ceiling - reserve))

    def _use(self, n: int) -> None:
        if n != self.threads:
            self._set(n)
            self.threads = n

    def adapt(self) -> int:
        """Cheap unless a decision is due; returns the thread count now in use."""
        now = self._clock()
        if now < self._due:
            return self.threads
        self._due = now + self.interval_s
        current = self._sample()
        if current is None:
            return self.threads
        before, self._last = self._last, current
        others = other_cores(before, current, self.ticks_per_s) if before else None
        if others is not None:
            self._use(threads_for(others, current.cpus, self.ceiling, self.reserve))
        return self.threads


def ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def _torch_set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def user_fixed_threads(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the user chose the thread count (or turned adaptation off) in the environment;
    any ``DIFFGEN_THREADS`` value but ``fixed`` means auto."""
    return any(env.get(v) for v in USER_THREAD_VARS) or env.get(SWITCH_VAR, "auto").lower() == "fixed"


def configure_process(gui_job: bool = False) -> Policy:
    """Call first thing in an entry point, before torch is imported. ``gui_job``: a job child
    of the desktop app, which leaves one core to the app where there are more than two."""
    global _policy
    cpus = len(allowed_cpus())
    _policy = Policy(adaptive=not user_fixed_threads(), reserve=1 if gui_job and cpus > 2 else 0)
    return _policy


def adapt() -> None:
    """Call from inside long loops (every step is fine): re-sizes torch's threads every few
    seconds after :func:`configure_process`; does nothing otherwise."""
    global _governor
    if _policy is None or not _policy.adaptive:
        return
    if _governor is None:
        import torch

        _governor = ThreadGovernor(torch.get_num_threads(), _policy.reserve)
    _governor.adapt()


def reset() -> None:
    """Start the next loop from torch's default thread count (benchmarks compare loops)."""
    global _governor
    if _governor is not None:
        _torch_set_threads(_governor.ceiling)
        _governor = None


def hold() -> None:
    """Stop re-sizing torch's threads in this process from now on: a replay (``diffgen
    regenerate``) sets them itself, evaluation by evaluation, as the run it repeats had them."""
    global _policy, _governor
    _policy = Policy(adaptive=False, reserve=_policy.reserve if _policy else 0)
    _governor = None
