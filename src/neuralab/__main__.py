"""``python -m neuralab``: the command line (what torch's launcher starts on each rank)."""

import sys

from neuralab.cli import main

sys.exit(main())
