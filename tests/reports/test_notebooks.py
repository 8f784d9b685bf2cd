"""The notebooks execute, plots included, so they cannot rot: on the demo data and on a synthetic year.

The demo data root is what `pige demo --no-ui` leaves behind (one station, one hour: tests/demo),
the data an analyst opens first; the synthetic root (pige_pipeline/testing/synthetic_year.py) has many
stations over a year, where the groupings and plots have real work to do.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(params=["demo", "synthetic"])
def notebook_data_root(request: pytest.FixtureRequest) -> Path:
    if request.param == "demo":
        return request.getfixturevalue("demo_run").root
    root, _data = request.getfixturevalue("synthetic")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", ["airplay_analysis", "dead_air_review", "transcript_exploration"])
def test_notebook_executes(name: str, notebook_data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = notebook_data_root
    monkeypatch.setenv("PIGE_DATA_ROOT", str(root))  # the kernel inherits the environment
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "plots are part of the notebook"
    texts = [o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs]
    assert any(str(root) in t for t in texts), "it read the data root it was given"
    stations = [s["id"] for s in yaml.safe_load((root / "stations.yaml").read_text())["stations"]]
    assert any(s in t for s in stations for t in texts), f"no table names a station of {root}"
