"""Every notebook runs top to bottom on small data, in a kernel of the project's .venv.

The notebooks are built from notebooks/build.py and executed by its ``run_notebook``
(the same code that produced the committed outputs), here with
``FRAUDSTREAM_NB_SMALL=1``. 03 logs to MLflow, so these are integration tests: the
kernel inherits ``MLFLOW_TRACKING_URI`` from the suite.
"""

from __future__ import annotations

import gc
import importlib.util
import time
import warnings
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: Each notebook takes well under a minute on small data; a cell that hangs fails here.
CELL_TIMEOUT_S = 120
NOTEBOOK_BUDGET_S = 150


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _build_module()


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"{out.ename}: {out.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


def _text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out and "text/plain" in out.data:
                parts.append(out.data["text/plain"])
    return "\n".join(parts)


def test_the_committed_notebooks_are_what_build_py_writes() -> None:
    """Cells are edited in build.py; a hand edit of an .ipynb would be lost."""
    for name in build.NOTEBOOKS:
        committed = nbformat.read(NOTEBOOKS / name, as_version=4)
        expected = build.build(name)
        assert [c.source for c in committed.cells] == [c.source for c in expected.cells], name
        assert all(
            cell.get("execution_count") is not None
            for cell in committed.cells
            if cell.cell_type == "code"
        ), f"{name} is committed without its outputs: run notebooks/build.py --execute"
        assert not _errors(committed), name
        size = (NOTEBOOKS / name).stat().st_size
        assert size < 300_000, f"{name} is {size} bytes: keep committed outputs small"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("name", list(build.NOTEBOOKS))
def test_notebook_runs_top_to_bottom_on_small_data(name: str, mlflow_uri: str) -> None:
    started = time.monotonic()
    nb = build.run_notebook(
        build.build(name),
        small=True,
        timeout=CELL_TIMEOUT_S,
        env={"MLFLOW_TRACKING_URI": mlflow_uri},
    )
    elapsed = time.monotonic() - started
    assert not _errors(nb)
    text = _text(nb)
    assert "small data: True" in text
    assert elapsed < NOTEBOOK_BUDGET_S, f"{name} took {elapsed:.0f} s on small data"
    if name.startswith("03"):
        assert mlflow_uri.split("//")[-1] in text  # tracked on the suite's server
        assert "4 runs logged for comparison" in text  # forest, xgboost, cold-start, logreg
        assert "best batch model:" in text


@pytest.mark.slow
def test_running_a_notebook_leaves_no_open_kernel_sockets() -> None:
    """The kernel client's zmq sockets are closed on return, not by the garbage collector.

    Left to a later collection, their ResourceWarning would surface inside whichever
    test ran then and fail it under this suite's warnings policy.
    """
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("6 * 7")])
    nb.metadata["kernelspec"] = build.build(next(iter(build.NOTEBOOKS))).metadata["kernelspec"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build.run_notebook(nb, small=True, timeout=CELL_TIMEOUT_S)
        gc.collect()
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == "42"
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
