"""reconbench.datasets: where data come from.

The catalog of datasets, the fixed split and its manifest, the ds001506 loader
(:mod:`.ds001506`) and the simulator (:mod:`.simulated`). Imports ``core`` only.
"""
