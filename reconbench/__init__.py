"""reconbench: a reproducible benchmark for image reconstruction from visual-cortex fMRI."""

__version__ = "0.1.0"
