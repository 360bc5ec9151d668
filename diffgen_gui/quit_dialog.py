"""Quitting while a job runs: ask what becomes of it, instead of cancelling it unasked.

Why: quitting used to freeze the window for seconds while the job was cancelled, and the job
was recorded as "cancelled by the user" and never resumed, though the queue says jobs survive
a restart. The job's process now finishes alone, or stops at a safe point and is queued again
(training resumes from its checkpoint, inpainting skips the images it finished), or is
cancelled; either way it records its own end, so the window closes at once.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from backend.jobs.queue import JobRecord

CHOICES = ("detach", "stop", "cancel")  # backend.jobs.process.JobProcess.release


def ask_leave_job(parent: QWidget, job: JobRecord) -> str | None:
    """``detach`` (finish in the background), ``stop`` (resume at the next start), ``cancel``,
    or None (do not quit)."""
    box = QMessageBox(parent)
    box.setObjectName("quit-with-job")
    box.setWindowTitle("A job is running")
    box.setIcon(QMessageBox.Icon.Question)
    done = f" ({job.progress_done}/{job.progress_total} done)" if job.progress_total else ""
    box.setText(f"Job {job.id}: {job.describe()}{done} is running. What should become of it?")
    box.setInformativeText(
        "Finish in the background: the job goes on without the window; the next start shows its result.\n"
        "Stop and resume: it stops at its next checkpoint or image and goes on from there at the next start.\n"
        "Cancel: it stops; what it finished is kept."
    )
    buttons = {
        box.addButton("Finish in background", QMessageBox.ButtonRole.AcceptRole): "detach",
        box.addButton("Stop, resume at next start", QMessageBox.ButtonRole.AcceptRole): "stop",
        box.addButton("Cancel the job", QMessageBox.ButtonRole.DestructiveRole): "cancel",
    }
    stay = box.addButton("Don't quit", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(stay)
    box.setEscapeButton(stay)
    box.exec()
    return buttons.get(box.clickedButton())
