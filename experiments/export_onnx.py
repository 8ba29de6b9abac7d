"""Command line: see `python experiments/export_onnx.py --help` (gpu_sac.cli.export_onnx_main)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from gpu_sac.cli import export_onnx_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(export_onnx_main())
