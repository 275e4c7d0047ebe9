"""`python -m empirical.cli`: the same as the `corelocker-bounds` command."""

import sys

from empirical.cli import main

sys.exit(main())
