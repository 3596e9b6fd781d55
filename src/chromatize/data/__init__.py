"""Data preparation (cleaning, dedupe, split, manifest, cache) and training datasets."""
