"""Command line: see `python experiments/plot.py --help` (gpu_sac.cli.plot_main)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from gpu_sac.cli import plot_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(plot_main())
