"""One time estimate for a job, the same before it is queued (the Generate form) and while it
runs (the progress bar): the work left times the seconds one unit of it takes on this device.
An inpainting run counts its units in network evaluations, as its sampler's schedule counts them
(``RepaintSchedule.evaluations``); the form times them by the last run's measured speed, a
running job by its own. A running job's speed is measured from its first progress report, so
the time spent starting (a process, a model loaded) is not spread over the work: spread, it made
the bar say "about 11 min left" beside the form's "about 3 min"."""

from __future__ import annotations


def seconds_left(units_left: int, seconds_per_unit: float) -> float:
    """The estimate: units of work left x measured seconds per unit."""
    return max(units_left, 0) * seconds_per_unit


class Speed:
    """Seconds per unit of a running job, measured since its first progress report (None until
    a unit has been done after it)."""

    def __init__(self) -> None:
        self._first: tuple[int, float] | None = None

    def per_unit(self, done: int, now: float) -> float | None:
        if self._first is None or done < self._first[0]:  # the first report, or the count restarted
            self._first = (done, now)
            return None
        units = done - self._first[0]
        return (now - self._first[1]) / units if units > 0 else None
