"""reconbench.datasets.simulated: the simulator that writes the ds001506 layout, and the reader of its ground truth."""
