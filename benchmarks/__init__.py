"""Benchmarks: ``python -m benchmarks [--smoke]`` runs them all (see ``__main__``)."""
