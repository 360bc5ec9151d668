"""A pytest plugin: any Qt warning about threads, timers or parents fails the test it came in.

Qt only warns ("Cannot create children for a parent that is in a different thread", "Timers
cannot be stopped from another thread") when a widget is touched from a worker thread, and
the crash follows later, often in another test or never offscreen; so the warning is the
failure. pytest-qt captures messages during the test call; a handler of our own catches them
in fixture set-up and tear-down (a job queue's shutdown, for instance).
"""

from __future__ import annotations

import pytest

_outside: list[str] = []  # thread warnings seen while pytest-qt was not capturing


def _thread_warning(text: str) -> bool:
    from diffgen_gui.qt_messages import is_thread_warning

    return is_thread_warning(text)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "expect_qt_thread_warning: the test provokes one on purpose")
    try:
        from PySide6.QtCore import qInstallMessageHandler
    except ImportError:
        return

    def handler(_kind, _context, message: str) -> None:
        if _thread_warning(message):
            _outside.append(message)

    qInstallMessageHandler(handler)


@pytest.hookimpl(wrapper=True, trylast=True)  # innermost: runs before pytest-qt drops its capture
def pytest_runtest_makereport(item, call):
    report = yield
    capture = getattr(item, "qt_log_capture", None)
    found = [r.message for r in capture.records if _thread_warning(r.message)] if capture else []
    found += _outside
    _outside.clear()
    if found and not report.failed and item.get_closest_marker("expect_qt_thread_warning") is None:
        report.outcome = "failed"
        report.longrepr = f"Qt warned about threads during {call.when}:\n  " + "\n  ".join(found)
    return report
