"""The notebooks execute against a synthetic data root, plots included, so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pige_pipeline.analytics.synthetic import SyntheticData

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["airplay_analysis", "dead_air_review", "transcript_exploration"])
def test_notebook_executes(
    name: str, synthetic: tuple[Path, SyntheticData], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _data = synthetic
    monkeypatch.setenv("PIGE_DATA_ROOT", str(root))  # the kernel inherits the environment
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "plots are part of the notebook"
    assert any(str(root) in o.get("text", "") for o in outputs), "it read the data root it was given"
