#!/usr/bin/env bash
# Stop the daemons that tests/slurm/slurm_up.sh started in STATE_DIR, by their
# pid files only (never by name: other Slurm or munge daemons are left alone).
#
# Usage: tests/slurm/slurm_down.sh STATE_DIR
set -uo pipefail

state=${1:?usage: slurm_down.sh STATE_DIR}
# Finish even when the caller is being interrupted or has gone (a closed
# stderr pipe would kill us with SIGPIPE at the first message): half a
# shutdown leaves daemons running.
trap '' INT TERM HUP PIPE

stop_pidfile() {
    local name=$1 pidfile=$2 pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "[slurm_down] $name (pid $pid) ignored SIGTERM; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        echo "[slurm_down] stopped $name (pid $pid)" >&2
    fi
    rm -f "$pidfile"
}

# Jobs first, so that slurmd does not leave orphaned job steps behind.
if [[ -s $state/slurm.conf && -s $state/slurmctld.pid ]]; then
    SLURM_CONF=$state/slurm.conf scancel --user="$(id -un)" 2>/dev/null || true
fi
stop_pidfile slurmd "$state/slurmd.pid"
stop_pidfile slurmctld "$state/slurmctld.pid"
stop_pidfile munged "$state/munge/munged.pid"

# Put back /etc/slurm/slurm.conf as it was, if we replaced it and it is still ours.
if [[ -s $state/installed_conf ]]; then
    sys_conf=$(<"$state/installed_conf")
    if grep -q "^# Written by tests/slurm/slurm_up.sh for $state:" "$sys_conf" 2>/dev/null; then
        if [[ -e $state/slurm.conf.system ]]; then
            cp -p "$state/slurm.conf.system" "$sys_conf"
        else
            rm -f "$sys_conf"
        fi
    fi
    rm -f "$state/installed_conf"
fi
exit 0
