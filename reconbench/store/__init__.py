"""reconbench.store: result rows on disk (schema, writing, reading).

Named ``store`` rather than ``results``, which is the committed-output folder.
"""
