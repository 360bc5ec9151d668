"""Background jobs: the queue and its records, typed parameters, the context a stage runs
with, and the child process that runs a job."""
