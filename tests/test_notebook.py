"""docs/reinforce.ipynb, the post as a notebook, runs from its first cell to its last.

The notebook is executed with nbclient in a Jupyter kernel of this interpreter's environment
(kernel "python3": jupyter_client starts it with sys.executable when ipykernel is installed
here, as the test extra does), with a small budget: a cell after the one tagged "parameters"
sets a few epochs, as papermill injects parameters.  A cell that raises fails the test with
the cell's traceback; the notebook's gradient checks are asserts, so a wrong gradient fails
it too.  The stored notebook keeps the outputs of its full run; this run's are discarded.
"""

import os
import sys
from pathlib import Path

import minipg
import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "reinforce.ipynb"

# A few epochs of each run and a short GIF: the whole execution, kernel start included, takes 5–15 s here.
SMALL_BUDGET = {
    "EPOCHS_CARTPOLE": 3,
    "EPOCHS_SWINGUP_BLOG": 2,
    "EPOCHS_SOLVE": 2,
    "EVAL_EPISODES": 4,
    "GIF_MAX_STEPS": 20,
}
# The full run's parameters, which the stored outputs come from.
FULL_BUDGET = {
    "EPOCHS_CARTPOLE": 100,
    "EPOCHS_SWINGUP_BLOG": 20,
    "EPOCHS_SOLVE": 150,
    "EVAL_EPISODES": 100,
    "GIF_MAX_STEPS": None,
    "SEED": 0,
}
CELL_TIMEOUT = 300  # seconds: a hung cell fails the test instead of stalling make test


def read_notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def parameters_index(notebook):
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{NOTEBOOK.name} needs exactly one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def cell_values(source):
    """The names a parameters cell assigns, with their values."""
    values = {}
    exec(source, {}, values)
    return values


def test_notebook_runs_with_a_small_budget(tmp_path):
    notebook = read_notebook()
    index = parameters_index(notebook)
    assert set(SMALL_BUDGET) <= set(cell_values(notebook.cells[index].source)), "a parameter the test sets is gone"
    injected = "# Injected by tests/test_notebook.py: a small budget\n" + "".join(
        f"{name} = {value!r}\n" for name, value in SMALL_BUDGET.items())
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    # The kernel must be this environment's Python and import this checkout's minipg.
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, minipg\n"
        f"assert sys.prefix == {sys.prefix!r}, sys.prefix\n"
        f"assert minipg.__file__ == {minipg.__file__!r}, minipg.__file__\n"))
    # Run in a temporary directory: nothing the notebook writes lands in the checkout.
    client = NotebookClient(notebook, kernel_name="python3", timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(tmp_path)}})
    # The kernel gets MPLBACKEND=Agg, as servers and CI machines often set it: ipykernel then
    # keeps Agg, whose plt.show() draws nothing, unless the notebook asks for the inline backend
    # itself.  Set here, the check below is the same whatever the caller's environment says.
    # TMPDIR: the notebook's own temporary files (its GIF) land in tmp_path, not in /tmp.  A cell
    # that fails raises CellExecutionError.
    client.execute(env={**os.environ, "MPLBACKEND": "Agg", "TMPDIR": str(tmp_path)})
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no learning curve was drawn"
    assert any("image/gif" in output.get("data", {}) for output in outputs), "no GIF was shown"


def test_stored_notebook_holds_a_full_run():
    """The committed notebook was run in full, top to bottom, with the post's budget, and errs nowhere."""
    notebook = read_notebook()
    assert cell_values(notebook.cells[parameters_index(notebook)].source) == FULL_BUDGET
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    for cell in code_cells:
        assert not any(output.output_type == "error" for output in cell.outputs), cell.source
    assert NOTEBOOK.stat().st_size < 1_000_000, "keep the stored notebook small"
