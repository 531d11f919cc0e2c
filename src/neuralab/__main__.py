"""``python -m neuralab``: the command line (what torch's launcher starts on each rank)."""

from neuralab.cli import run

run()
