"""Segmentation experiments (paper section 3.5, Tables 3-6): does the synthetic data help?

UNet++ models trained on real, synthetic, alpha-augmented and small real sets, tested on a
held-out set of real images; ``run_segment`` is the job, ``report`` writes the tables.
"""

from backend.segmentation.experiments import run_segment

__all__ = ["run_segment"]
