"""notebooks/style_transfer.ipynb runs top to bottom, offline, on the package as it is (tiny settings)."""

import base64
import io
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "style_transfer.ipynb"


@pytest.fixture(scope="module")
def notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_the_committed_notebook_has_no_outputs_and_one_parameters_cell(notebook):
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1
    assert "colab.research.google.com/assets/colab-badge.svg" in notebook.cells[0].source
    source = "\n".join(cell.source for cell in code)
    assert "google.colab" in source and "except ImportError" in source
    assert "def gram_matrix" not in source and "GradientTape" not in source  # the API, not a copy


def test_the_notebook_runs_offline_with_tiny_settings(notebook, weights_file, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLE_TRANSFER_REPO", str(NOTEBOOK.parents[1]))
    (parameters,) = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    parameters.source += (f"\n# test settings\nSTEPS = 3\nMAX_DIM = 48\nWEIGHTS = {str(weights_file)!r}\n"
                          f"UPLOAD = False\nSHOW_TENSORBOARD = False\nLOGDIR = {str(tmp_path / 'runs')!r}\n"
                          f"OUTPUT_DIR = {str(tmp_path / 'out')!r}\n"
                          "FAST_STEPS = 2\nFAST_IMAGE_SIZE = 32\nFAST_FILTERS = 4\n"
                          "OPEN_APP = False\n")  # a served app would outlive the kernel's run
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "lakeside_swirls.png", "lakeside_swirls.png_summary.png", "lakeside_swirls_network.png"]
    assert Image.open(tmp_path / "out" / "lakeside_swirls.png").size == (48, 36)
    (network,) = (tmp_path / "runs" / "networks").iterdir()
    assert (network / "export" / "saved_model.pb").is_file()
    assert (network / "checkpoints" / "ckpt-2.index").is_file()
    assert any((tmp_path / "runs").rglob("events.out.tfevents.*"))
    pictures = [Image.open(io.BytesIO(base64.b64decode(output.data["image/png"])))
                for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
                if "image/png" in output.get("data", {})]
    # The summary figure, the per-layer plot, the result itself and the network's result are shown.
    assert len(pictures) == 4 and pictures[0].width > 600 and pictures[2].size == pictures[3].size == (48, 36)
    network_result = np.asarray(Image.open(tmp_path / "out" / "lakeside_swirls_network.png"), float)
    assert network_result.std() > 1  # a picture, not a flat fill
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "3 steps, 48x36" in printed and "saved" in printed
    assert "1 photograph(s) in" in printed and "one forward pass: " in printed
