"""DiffGen Studio back end: everything that computes and stores. Never imports Qt."""

__version__ = "0.1.0"
