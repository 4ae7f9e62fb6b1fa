"""reconbench.analysis: analyses of a data folder that combine the loaders, the decoders and the metrics (``reconbench data profile``)."""
