#!/usr/bin/env bash
# A test "host": a network namespace joined to this machine by a veth pair, each side with its own
# address, optionally serving ssh with an sshd of its own.
#
#   scripts/netns-host.sh up NAME [--sshd]   creates it; prints shell assignments on stdout:
#                                             address=   the namespace's address
#                                             peer=      this machine's address on the pair
#                                             dir=       its files
#                                             ssh_config= (with --sshd) a client config: `ssh -F FILE root@ADDRESS`
#   scripts/netns-host.sh down NAME          kills every process in it, deletes it and its files
#
# NAME must be unique (put a pid in it) and at most 40 characters. Each namespace gets a free
# 10.211.N.0/24 (N chosen under a lock). The sshd has its own host key, authorized key, config
# (root login with keys only, no PAM) and pid file; the client config pins the host key, uses
# the namespace's own client key and never prompts. Needs root, iproute2 and openssh-server.
set -euo pipefail

fail() {
    echo "netns-host.sh: $*" >&2
    exit 2
}

up() {
    local name=$1 sshd=${2:-}
    [ "$(id -u)" = 0 ] || fail "needs root (ip netns)"
    command -v ip >/dev/null || fail "ip (iproute2) is missing"
    [ ${#name} -le 40 ] || fail "name too long: $name"
    [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || fail "bad name: $name"
    local dir=/tmp/pxsh-netns-$name
    [ -e "/run/netns/$name" ] && fail "namespace $name exists already"

    # Pick a free subnet and make the namespace under one lock, so concurrent callers differ.
    local n address peer
    exec {lock}>/tmp/pxsh-netns.lock
    flock "$lock"
    local used
    used=$(ip -4 -o addr show)
    for n in $(seq 1 250); do
        if ! grep -q "10\.211\.$n\." <<<"$used"; then break; fi
        n=""
    done
    [ -n "$n" ] || fail "no free 10.211.N.0/24 subnet"
    address=10.211.$n.2
    peer=10.211.$n.1
    local outside=pxh${n}o inside=pxh${n}i
    ip netns add "$name"
    ip link add "$outside" type veth peer name "$inside"
    ip link set "$inside" netns "$name"
    ip addr add "$peer/24" dev "$outside"
    ip link set "$outside" up
    ip -n "$name" addr add "$address/24" dev "$inside"
    ip -n "$name" link set "$inside" up
    ip -n "$name" link set lo up
    flock -u "$lock"
    exec {lock}>&-

    mkdir -p "$dir"
    chmod 700 "$dir"
    echo "address=$address"
    echo "peer=$peer"
    echo "dir=$dir"
    echo "device=$outside"
    [ "$sshd" = "--sshd" ] || return 0

    command -v /usr/sbin/sshd >/dev/null || fail "sshd is missing: run scripts/install-deps.sh (package openssh-server)"
    mkdir -p /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C "pxsh-test-host-$name" -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C "pxsh-test-client-$name" -f "$dir/client_key"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    cat >"$dir/sshd_config" <<EOF
ListenAddress $address
Port 22
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
PermitRootLogin yes
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
LogLevel ERROR
EOF
    echo "$address $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
    cat >"$dir/ssh_config" <<EOF
Host *
    IdentityFile $dir/client_key
    IdentitiesOnly yes
    UserKnownHostsFile $dir/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
    LogLevel ERROR
EOF
    # sshd forks into the background once it listens, so the host serves ssh when this returns.
    ip netns exec "$name" /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" ||
        fail "sshd did not start in $name: $(tail -n 3 "$dir/sshd.log" 2>/dev/null)"
    echo "ssh_config=$dir/ssh_config"
}

down() {
    local name=$1 pids
    local dir=/tmp/pxsh-netns-$name
    if [ -e "/run/netns/$name" ]; then
        # Everything in the namespace: sshd, its sessions, engines. TERM, 5 s, then KILL.
        pids=$(ip netns pids "$name" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            kill $pids 2>/dev/null || true
            for _ in $(seq 50); do
                [ -z "$(ip netns pids "$name" 2>/dev/null)" ] && break
                sleep 0.1
            done
            pids=$(ip netns pids "$name" 2>/dev/null || true)
            if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; fi
            while [ -n "$(ip netns pids "$name" 2>/dev/null)" ]; do sleep 0.05; done
        fi
        ip netns del "$name"
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    up)
        [ $# -ge 2 ] || fail "usage: up NAME [--sshd]"
        up "$2" "${3:-}"
        ;;
    down)
        [ $# -eq 2 ] || fail "usage: down NAME"
        down "$2"
        ;;
    *)
        echo "usage: scripts/netns-host.sh up NAME [--sshd] | down NAME" >&2
        exit 2
        ;;
esac
