"""The package version, in one place (read by the CLI, the files we write and the package metadata)."""

__version__ = "0.1.0"
