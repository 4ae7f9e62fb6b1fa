"""reconbench.core: the contracts and plumbing every part shares.

``TrainData``/``TestInput`` (:mod:`.types`), ``Method`` (:mod:`.method`), errors,
the pinned ``resize`` (:mod:`.images`), atomic writes, the one hasher
(:mod:`.hashing`), folder resolution (:mod:`.paths`), profiling and the stage
cache. This package imports nothing else of reconbench (DESIGN.md, "Dependency
rules"; checked by import-linter).
"""
