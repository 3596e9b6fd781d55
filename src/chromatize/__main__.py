"""`python -m chromatize`: the same as the `chromatize` command."""

from .cli import main

main()
