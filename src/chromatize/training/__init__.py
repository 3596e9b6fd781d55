"""Training: Lightning modules, callbacks and the `chromatize train` driver (never imported by inference)."""
