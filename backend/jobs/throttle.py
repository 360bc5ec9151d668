"""The one progress throttle: a stage reports every step (a training step, a sampler
evaluation), but the database row, the job's log, the child's event pipe and the app's
signals each want a report only now and then. Each holds a :class:`Throttle` with its own
interval; the first report and the last one (done >= total) always pass, so a finished job
never shows 199/200 and a new one shows at once."""

from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    """``due(done, total)``: True at most once every ``interval_s`` of ``clock``, and always for
    the first report and the last one."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.interval_s, self._clock = interval_s, clock
        self._last: float | None = None

    def due(self, done: int, total: int, now: float | None = None) -> bool:
        """``now``: the caller's reading of the clock, when it reads it anyway (one reading per report)."""
        t = self._clock() if now is None else now
        if self._last is not None and done < total and t - self._last < self.interval_s:
            return False
        self._last = t
        return True
