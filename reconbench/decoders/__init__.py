"""reconbench.decoders: building blocks that methods share.

The ridge decoder (pure solvers plus a thin scikit-learn-style estimator),
linear decoders as arrays fitted per ROI and their non-negative combination
(``linear``), pretrained image features (``features``) and the decoding targets
computed from images (``targets``: shape maps, the projection of pooled features),
which the harness also uses for the true values of the stage-wise diagnostics.
Imports ``core`` and ``metrics``.
"""
