"""Executes a notebook with nbclient on the python3 ipykernel and checks what its cells show.

Usage: python scripts/run-notebook.py NOTEBOOK  (prints each code cell's output; exits 1 on a
failing cell or a missing expected output)
"""

import os
import sys
import tempfile

import nbclient
import nbformat
from jupyter_client import KernelManager

# What the cells of examples/python-api.ipynb must show, in order (a substring of each code
# cell's text output; None: any output).
EXPECTED = [
    "[0, 1]",
    "[(0, 2), (1, 2)]",
    "[1, 2, 4, 8, 16, 32, 64, 128, 256, 512]",
    "finished: 0.1\nfinished: 0.4\nfinished: 1.0",
    "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]",
    "([0, 1, 2, 3, 4, 5, 6, 7], [6, 22])",
    "ZeroDivisionError division by zero 0",
    None,
]


def text_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
    return "".join(parts)


def main(path: str) -> int:
    notebook = nbformat.read(path, as_version=4)
    # The kernel listens on Unix sockets, not on TCP ports: in a directory removed afterwards (by
    # default they would be left in the current directory).
    with tempfile.TemporaryDirectory(prefix="pxsh-kernel-") as sockets:
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
        client = nbclient.NotebookClient(notebook, km=manager, timeout=120, kernel_name="python3")
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as error:
            print(f"{path}: a cell failed:\n{error}")
            return 1
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    failed = 0
    for index, (cell, expected) in enumerate(zip(code_cells, EXPECTED)):
        shown = text_of(cell)
        ok = expected is None or expected in shown
        print(f"[{'ok' if ok else 'MISMATCH'}] cell {index + 1}: {shown.strip()!s:.200}")
        if not ok:
            print(f"    expected to contain: {expected!r}")
            failed += 1
    if len(code_cells) != len(EXPECTED):
        print(f"{path}: {len(code_cells)} code cells, {len(EXPECTED)} expected outputs")
        failed += 1
    print(f"notebook: {len(code_cells) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
