"""Runners: training, sampling, reference-batch and reproduction jobs built on the `benchmark` package."""
