"""`python -m longcepo`: the same command line as the `longcepo` script."""

from longcepo.cli.main import entry

entry()
