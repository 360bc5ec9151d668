"""Background jobs: the queue and its records, typed parameters, the context a stage runs
with, and the child process that runs a job."""

CHILD_COMMAND = "_job-child"  # hidden first argument of the diffgen entry point: here, so the CLI needs no import to see it
