#!/usr/bin/env bash
# Executes examples/python-api.ipynb as a Jupyter user would: nbclient runs it on an ipykernel,
# both installed with `pip install ./python` into a scratch venv (.build/jupyter-venv, made once),
# against a named cluster of PXSH started in a runtime directory of its own.
# Usage: scripts/check-notebook.sh PYTHON [PXSH]   (PXSH defaults to .build/debug/pxsh)
set -euo pipefail
cd "$(dirname "$0")/.."
python=$1
pxsh=$(realpath "${2:-.build/debug/pxsh}")
venv=.build/jupyter-venv
# Functions travel by value: the kernel's cloudpickle must be the engines' version.
cloudpickle=$("$python" -c 'import cloudpickle; print(cloudpickle.__version__)')
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "
import nbclient, nbformat, ipykernel, cloudpickle
assert cloudpickle.__version__ == '$cloudpickle'" 2>/dev/null; then
    echo "check-notebook: making $venv with nbclient, ipykernel and cloudpickle $cloudpickle" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check nbclient nbformat ipykernel \
        "cloudpickle==$cloudpickle" >&2
fi
runtime=$(mktemp -d /tmp/pxsh-notebook-XXXXXX)
chmod 700 "$runtime"
cluster="notebook-$$"
cleanup() {
    XDG_RUNTIME_DIR=$runtime "$pxsh" cluster stop --name "$cluster" >/dev/null 2>&1 || true
    rm -rf "$runtime"
}
trap cleanup EXIT
# The package as pip installs it, fresh each run (no dependencies: it has none); built from a copy,
# so that no build directory is left in the source tree.
cp -r python "$runtime/package"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$runtime/package" >&2
XDG_RUNTIME_DIR=$runtime "$pxsh" cluster start --name "$cluster" -n 2 --python "$python" >/dev/null
XDG_RUNTIME_DIR=$runtime "$venv/bin/python" scripts/run-notebook.py examples/python-api.ipynb
