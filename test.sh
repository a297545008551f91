#!/usr/bin/env bash
# Runs the whole test suite: the engine runtime's Python tests, the Swift tests (unit, end-to-end
# with real engines, and the terminal under tmux), the `pxsh` Python package's tests, the example
# notebook (run by nbclient on an ipykernel), the example transcripts, and the format lint.
# The launcher tests' hosts are set up first: a single-node Slurm (started here, stopped on exit),
# MPICH and Open MPI with mpi4py, and network namespaces serving ssh (checked here, made by the tests).
set -euo pipefail
cd "$(dirname "$0")"
# The Ctrl-C tests send SIGINT to processes the suite starts, which inherit how this shell handles it.
# A background job of a script (`./test.sh &`) starts with SIGINT ignored, which no shell can undo:
# then start again with it at its default.
if [ -z "${PXSH_TEST_SIGINT:-}" ] && (( 0x$(awk '/^SigIgn:/ {print $2}' /proc/$$/status) & 2 )); then
    exec env --default-signal=INT PXSH_TEST_SIGINT=default bash "$PWD/test.sh" "$@"
fi
python=$(scripts/install-deps.sh --tests | tail -n 1)
# The suite's engines run the python the installer chose, and `mpiexec` is the MPICH that its
# mpi4py loads (pip put it in the python's scripts directory).
scripts=$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="$scripts:$(dirname "$python"):$PATH"

echo "== test hosts (MPICH and Open MPI with mpi4py, single-node Slurm, sshd in a network namespace)"
trap 'scripts/slurm.sh stop $$' EXIT
SLURM_CONF=$(scripts/slurm.sh start $$ | tail -n 1)
export SLURM_CONF
scripts/check-test-hosts.sh "$python"

echo "== engine runtime (Python)"
"$python" -m unittest discover -s Tests/RuntimeTests

echo "== Swift tests"
swift build --build-tests
swift test --skip-build

echo "== Python package (python/tests, against clusters of .build/debug/pxsh)"
PXSH=.build/debug/pxsh "$python" -m unittest discover -s python/tests -t python

echo "== Jupyter: examples/python-api.ipynb run by nbclient + ipykernel (scratch venv .build/jupyter-venv)"
scripts/check-notebook.sh "$python" .build/debug/pxsh

echo "== example transcripts"
scripts/check-examples.sh .build/debug/pxsh

echo "== format (swift format lint, config .swift-format)"
scripts/format.sh --check
