"""experiments/quickstart.ipynb runs: its pendulum part, executed as a notebook (nbclient), with a short
budget and the MJX part off, so that it cannot rot."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_notebook_runs_its_pendulum_part(tmp_path):
    nb = nbformat.read(ROOT / "experiments" / "quickstart.ipynb", as_version=4)
    (parameters,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Parameters")]
    parameters.source = f'PENDULUM_STEPS = 2_000\nRUN_MJX = False\nRUN_DIR = "{tmp_path / "runs"}"'
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "final eval return:" in text and "one episode with the loaded policy:" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the inline curve, the run directory's curve (and the committed plots)
    assert (tmp_path / "runs" / "pendulum" / "policy").is_dir()
