"""Qt's own warnings: kept in the workspace log, and the ones about threads recognised.

Qt reports a widget touched from the wrong thread only as a warning, moments before it
crashes; the app logs every Qt message so that such a report is never lost, and the test
session fails any test during which one appears.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

THREAD_WARNING = re.compile(
    r"different thread|another thread|QBasicTimer|Cannot create children"
    r"|QThread: Destroyed|moveToThread",
    re.IGNORECASE,
)
LEVELS = {
    QtMsgType.QtDebugMsg: "debug",
    QtMsgType.QtInfoMsg: "info",
    QtMsgType.QtWarningMsg: "warning",
    QtMsgType.QtCriticalMsg: "critical",
    QtMsgType.QtFatalMsg: "fatal",
}


def is_thread_warning(text: str) -> bool:
    return bool(THREAD_WARNING.search(text))


def install_log(log_file: Callable[[], Path | None]) -> None:
    """Send Qt's messages to stderr and append them to ``log_file()`` (the open workspace's log)."""

    def handler(kind, _context, message: str) -> None:
        level = LEVELS.get(kind, "message")
        tag = " [thread]" if is_thread_warning(message) else ""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')}  qt {level}{tag}: {message}"
        print(line, file=sys.stderr)
        path = log_file()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError:  # a read-only workspace or a full disk: stderr still has it
            pass

    qInstallMessageHandler(handler)
