"""Segmentation experiments (paper section 3.5, Tables 3-6): does the synthetic data help?

UNet++ models trained on real, synthetic, alpha-augmented and small real sets, tested on a
held-out set of real images; ``run_segment`` is the job, ``report`` writes the tables.
"""

__all__ = ["run_segment"]


def __getattr__(name: str):
    """``run_segment`` is imported on first use (the CLI's parser reads only the config)."""
    if name == "run_segment":
        from backend.segmentation.experiments import run_segment

        return run_segment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
