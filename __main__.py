"""`python -m longcepo`: the same command line as the `longcepo` script."""

import sys

from longcepo.cli.main import main

sys.exit(main())
