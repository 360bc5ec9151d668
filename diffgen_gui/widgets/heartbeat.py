"""A GUI-thread heartbeat: how late a periodic timer fires measures how responsive the app is
(the test and ``benchmarks/gui.py`` both use it)."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer


class Heartbeat:
    """Records, for every tick of a ``period_s`` timer, how late it came (seconds)."""

    def __init__(self, period_s: float = 0.020):
        self.period_s = period_s
        self.late: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(round(period_s * 1000))
        self._timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        t = time.perf_counter()
        self.late.append(t - self._last - self.period_s)
        self._last = t

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> list[float]:
        self._timer.stop()
        return self.late
