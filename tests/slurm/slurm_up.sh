#!/usr/bin/env bash
# Start a private one-node Slurm (munged + slurmctld + slurmd) on this host.
#
# Usage: tests/slurm/slurm_up.sh STATE_DIR
#
# Everything the daemons write (config, key, sockets, pid files, spool, logs)
# lives in STATE_DIR, so the system's /etc/slurm and /etc/munge are untouched
# and several copies can coexist. Clients find the cluster through
# SLURM_CONF: source STATE_DIR/env.sh. Stop with tests/slurm/slurm_down.sh.
# Needs root (the daemons run as root) and Debian's slurmctld, slurmd,
# slurm-client and munge packages (installed here when missing).
set -euo pipefail

state=${1:?usage: slurm_up.sh STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)
chmod 700 "$state"
timeout_s=${SLURM_UP_TIMEOUT:-90}

log() { printf '[slurm_up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (the daemons run as root here)"

# --- packages ---------------------------------------------------------------
need=()
for cmd_pkg in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${cmd_pkg%%:*}" >/dev/null 2>&1 || need+=("${cmd_pkg##*:}")
done
if ((${#need[@]})); then
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get"
    log "installing ${need[*]}"
    # Another apt may hold the lock (parallel provisioning): wait for it.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >&2
fi
# Debian's postinst may not start services (policy-rc.d), and we do not use them.

# --- free ports ---------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 30000))
        if port_free "$p" && port_free $((p + 1)); then echo "$p"; return; fi
    done
    die "no free port pair found"
}
ctld_port=$(pick_port)
slurmd_port=$((ctld_port + 1))

# --- munge ------------------------------------------------------------------
mkdir -p "$state/munge"
chmod 700 "$state/munge"
if [[ ! -s $state/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile="$state/munge/munge.key"
    else
        dd if=/dev/urandom of="$state/munge/munge.key" bs=1 count=1024 status=none
    fi
    chmod 400 "$state/munge/munge.key"
fi
munge_socket=$state/munge/munge.socket.2
munged --force \
    --socket="$munge_socket" \
    --key-file="$state/munge/munge.key" \
    --pid-file="$state/munge/munged.pid" \
    --log-file="$state/munge/munged.log" \
    --seed-file="$state/munge/munged.seed"
for _ in $(seq 1 50); do [[ -S $munge_socket ]] && break; sleep 0.1; done
munge --socket="$munge_socket" -n | unmunge --socket="$munge_socket" >/dev/null \
    || die "munge round trip failed (see $state/munge/munged.log)"
log "munged up (pid $(cat "$state/munge/munged.pid"))"

# --- slurm.conf -------------------------------------------------------------
host=$(hostname -s)
# slurmd -C prints this node's real hardware line (NodeName=... CPUs=... RealMemory=...)
node_line=$(slurmd -C | grep '^NodeName=')
[[ $node_line == NodeName=$host\ * ]] || die "slurmd -C names another host: $node_line"
mkdir -p "$state/ctld" "$state/spool" "$state/log"
cat >"$state/slurm.conf" <<CONF
# Written by tests/slurm/slurm_up.sh: a private one-node test cluster.
ClusterName=lensfinder-test
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool/slurmd-%n
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in containers/VMs used for CI: track processes by /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# Keep finished jobs visible to squeue long enough for Snakemake's status
# checks (there is no accounting database, so sacct knows nothing).
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
$node_line State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
cat >"$state/env.sh" <<ENV
export SLURM_CONF=$state/slurm.conf
ENV
export SLURM_CONF=$state/slurm.conf

# --- daemons ----------------------------------------------------------------
slurmctld -f "$SLURM_CONF" -i
for _ in $(seq 1 50); do [[ -s $state/slurmctld.pid ]] && break; sleep 0.2; done
log "slurmctld started (pid $(cat "$state/slurmctld.pid" 2>/dev/null || echo '?'))"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 50); do [[ -s $state/slurmd.pid ]] && break; sleep 0.2; done
log "slurmd started (pid $(cat "$state/slurmd.pid" 2>/dev/null || echo '?'))"

deadline=$((SECONDS + timeout_s))
while :; do
    node_state=$(sinfo -h -N -n "$host" -o %t 2>/dev/null | head -n1 || true)
    [[ $node_state == idle ]] && break
    if ((SECONDS > deadline)); then
        tail -n 20 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 || true
        die "node $host not idle after ${timeout_s}s (state: '${node_state:-none}')"
    fi
    sleep 1
done
log "node $host idle; SLURM_CONF=$SLURM_CONF"
