"""The Qt runtime the app relies on: signal reference counts and the thread-warning trap."""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
TESTS = Path(__file__).resolve().parents[1]


def test_signal_emit_keeps_reference_counts(qapp):
    """PySide6 6.12.0's Signal.emit() dropped a reference to True on every call, which aborts
    Python 3.11 after a few thousand signals (the app emits that many in minutes)."""
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        ping = Signal(int)

    e = Emitter()
    got = []
    e.ping.connect(got.append)
    before = sys.getrefcount(True)
    for i in range(200):
        e.ping.emit(i)
    assert len(got) == 200
    assert abs(sys.getrefcount(True) - before) < 20


@pytest.mark.expect_qt_thread_warning
def test_a_cross_thread_timer_warning_is_recognised(qapp, qtlog):
    """The trap's patterns match what Qt really prints when a timer is touched off its thread."""
    from PySide6.QtCore import QTimer

    from diffgen_gui.qt_messages import is_thread_warning

    timer = QTimer()
    timer.start(1000)
    t = threading.Thread(target=timer.stop)
    t.start()
    t.join()
    timer.stop()
    messages = [r.message for r in qtlog.records]
    assert any(is_thread_warning(m) for m in messages), messages


def test_the_trap_fails_a_test_that_touches_a_timer_from_a_thread(pytester):
    pytester.makepyfile(
        test_bad=textwrap.dedent("""
        import threading
        from PySide6.QtCore import QTimer

        def test_bad(qapp):
            timer = QTimer()
            timer.start(1000)
            t = threading.Thread(target=timer.stop)
            t.start(); t.join()
            timer.stop()

        def test_good(qapp):
            timer = QTimer()
            timer.start(1000)
            timer.stop()
    """)
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "qt_trap",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(pytester.path),
        f"--override-ini=pythonpath={TESTS} {TESTS.parent}",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Qt warned about threads during call:*", "*Timers cannot be stopped from another thread*"])
