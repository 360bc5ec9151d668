"""The RePaint schedule (Lugmayr et al., CVPR 2022): the times the reverse chain visits and the
number of network evaluations one sample costs. No torch here, so that the app's Generate form
can count a run's evaluations (its time estimate) from the very object the sampler runs, without
loading the sampler: one count, not a second formula beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def jump_schedule(t_T: int, jump_length: int, jump_n_sample: int) -> list[int]:
    """RePaint's ``get_schedule_jump`` (n_sample=1, no second/third-level jumps).

    Returns the visited times, from ``t_T - 1`` down to ``-1``. A pair ``(a, b)`` with
    ``b < a`` is one reverse step (a model evaluation at ``a``); ``b > a`` is one forward
    re-noising step to ``b``. At every multiple ``j`` of ``jump_length`` below
    ``t_T - jump_length`` the chain goes back ``jump_length`` steps ``jump_n_sample - 1`` times.
    """
    if t_T < 1 or jump_length < 1 or jump_n_sample < 1:
        raise ValueError("t_T, jump_length and jump_n_sample must all be >= 1")
    jumps = {j: jump_n_sample - 1 for j in range(0, t_T - jump_length, jump_length)}
    t, times = t_T, []
    while t >= 1:
        t -= 1
        times.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                times.append(t)
    times.append(-1)
    return times


def model_evaluations(times: Sequence[int]) -> int:
    """Number of reverse steps (= network evaluations per sample) in a schedule."""
    return sum(1 for a, b in zip(times[:-1], times[1:]) if b < a)


@dataclass(frozen=True)
class RepaintSchedule:
    """The RePaint hyperparameters (paper Table A.2; respacing from Table A.1)."""

    respacing: int = 200
    jump_length: int = 10
    jump_n_sample: int = 5

    def times(self) -> list[int]:
        return jump_schedule(self.respacing, self.jump_length, self.jump_n_sample)

    def evaluations(self) -> int:
        return model_evaluations(self.times())
