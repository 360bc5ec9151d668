"""Metrics: image-set quality scores and agreement statistics."""
