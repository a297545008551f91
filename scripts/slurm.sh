#!/usr/bin/env bash
# A single-node Slurm for the tests: munge, slurmctld and slurmd on this machine, with a slurm.conf
# of its own (the system's /etc/slurm is not touched).
#
#   scripts/slurm.sh start PID   starts what is not running, waits until the node is idle, and
#                                prints the slurm.conf path on its last line (export it as SLURM_CONF)
#   scripts/slurm.sh stop PID    when no other live PID uses it: cancels every job, stops the
#                                daemons it started and removes its state
#
# The daemons are machine-wide: one such Slurm per machine, in $PXSH_SLURM_DIR (default
# /tmp/pxsh-slurm). Each user of it (a test run: PID is its process) holds it from start to stop,
# so test runs side by side share it and the last one stops it; holders that died are dropped.
# A munged that was already running is used and left running. The node declares
# 16 CPUs whatever the cores, so `srun -n 4` runs on 2 cores. Needs root and the Debian packages
# slurmctld, slurmd, slurm-client and munge (scripts/install-deps.sh installs them).
# Facts this rests on: ../shared/PITFALLS.md, "a real single-node Slurm runs here".
set -euo pipefail

dir=${PXSH_SLURM_DIR:-/tmp/pxsh-slurm}
conf="$dir/slurm.conf"
node=$(hostname -s)

fail() {
    echo "slurm.sh: $*" >&2
    exit 2
}

# Kills the daemon whose pid is in FILE (if it runs that program) and waits until it is gone.
stop_pid_file() {
    local file=$1 program=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$program" ]; then
        kill "$pid" 2>/dev/null || true
        # Bounded wait (10 s), then SIGKILL.
        for _ in $(seq 100); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
        while [ -d "/proc/$pid" ]; do sleep 0.05; done
    fi
    rm -f "$file"
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

# Drops holders whose process is gone; true when some holder is left.
live_holders() {
    local file
    for file in "$dir"/holders/*; do
        [ -e "$file" ] || continue
        [ -d "/proc/${file##*/}" ] || rm -f "$file"
    done
    compgen -G "$dir/holders/*" >/dev/null
}

node_takes_jobs() {
    case "$(SLURM_CONF="$conf" sinfo -h -n "$node" -o %T 2>/dev/null || true)" in
        idle | mixed | allocated) return 0 ;;
        *) return 1 ;;
    esac
}

start() {
    local holder=$1
    mkdir -p "$dir/holders"
    if live_holders && node_takes_jobs; then
        touch "$dir/holders/$holder"
        echo "$conf"
        return 0
    fi
    touch "$dir/holders/$holder"
    [ "$(id -u)" = 0 ] || fail "needs root (slurmd runs jobs as their users)"
    local tool
    for tool in munged munge unmunge slurmctld slurmd srun sbatch scancel sinfo squeue; do
        command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing: run scripts/install-deps.sh (packages slurmctld slurmd slurm-client munge)"
    done
    mkdir -p "$dir/state" "$dir/spool"

    if ! munge_works; then
        [ -f /etc/munge/munge.key ] || fail "/etc/munge/munge.key is missing (the munge package makes it; try: dpkg-reconfigure munge)"
        mkdir -p /run/munge
        chown munge:munge /run/munge
        runuser -u munge -- munged --force 9>&- || fail "munged did not start: $(tail -n 3 /var/log/munge/munged.log 2>/dev/null)"
        munge_works || fail "munged started but munge -n | unmunge fails"
        cp /run/munge/munged.pid "$dir/munged.pid"
    fi

    cat >"$conf" <<EOF
# Written by pxsh's scripts/slurm.sh: a single-node Slurm for tests.
ClusterName=pxshtest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=2
InactiveLimit=0
MinJobAge=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=16 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$conf"

    # A daemon left by an earlier run (its pid file is in $dir) is replaced: the conf may differ.
    stop_pid_file "$dir/slurmd.pid" slurmd
    stop_pid_file "$dir/slurmctld.pid" slurmctld
    if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
        fail "a slurmctld or slurmd that this script did not start is running (pids $(pgrep -d, -x 'slurmctld|slurmd')); stop it first"
    fi
    # -c: no holder is left, so no job of an earlier run is worth recovering.
    slurmctld -f "$conf" -c 9>&- || fail "slurmctld did not start: $(tail -n 5 "$dir/slurmctld.log" 2>/dev/null)"
    slurmd -f "$conf" 9>&- || fail "slurmd did not start: $(tail -n 5 "$dir/slurmd.log" 2>/dev/null)"

    # Wait (at most 30 s) until the node takes jobs.
    local state=""
    for _ in $(seq 300); do
        state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
        case "$state" in idle | mixed | allocated) break ;; esac
        sleep 0.1
    done
    case "$state" in
        idle | mixed | allocated) ;;
        *)
            fail "the node is '$state' after 30 s; slurmctld.log: $(tail -n 5 "$dir/slurmctld.log" 2>/dev/null); slurmd.log: $(tail -n 5 "$dir/slurmd.log" 2>/dev/null)"
            ;;
    esac
    echo "$conf"
}

stop() {
    local holder=$1
    [ -d "$dir" ] || return 0
    rm -f "$dir/holders/$holder"
    live_holders && return 0
    if [ -f "$conf" ] && [ -f "$dir/slurmctld.pid" ]; then
        SLURM_CONF="$conf" scancel --full --signal=KILL --user=root 2>/dev/null || true
        SLURM_CONF="$conf" scancel --user=root 2>/dev/null || true
    fi
    stop_pid_file "$dir/slurmd.pid" slurmd
    stop_pid_file "$dir/slurmctld.pid" slurmctld
    stop_pid_file "$dir/munged.pid" munged
    rm -rf "$dir"
}

usage() {
    echo "usage: scripts/slurm.sh start|stop PID" >&2
    exit 2
}
[ $# -eq 2 ] && [[ $2 =~ ^[0-9]+$ ]] || usage
# One start or stop at a time on this machine.
# (fd 9, closed for the daemons so that they do not hold the lock).
exec 9>/tmp/pxsh-slurm.lock
flock 9
case "$1" in
    start) start "$2" ;;
    stop) stop "$2" ;;
    *)
        usage
        exit 2
        ;;
esac
