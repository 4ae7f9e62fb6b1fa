"""reconbench.decoders: building blocks that methods share.

The ridge decoder (pure solvers plus a thin scikit-learn-style estimator) and
pretrained image features for decoding targets. Imports ``core`` and ``metrics``.
"""
