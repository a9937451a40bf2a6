#!/usr/bin/env bash
# Start a private one-node Slurm (munged + slurmctld + slurmd) on this host.
#
# Usage: tests/slurm/slurm_up.sh STATE_DIR
#
# Everything the daemons write (config, munge key and socket, pid files,
# spool, logs) lives in STATE_DIR; ports are picked free. Clients find the
# cluster through SLURM_CONF (source STATE_DIR/env.sh) and, inside jobs,
# through /etc/slurm/slurm.conf, which this script installs (an existing one
# is kept aside) and slurm_down.sh removes again. Stop everything with
# tests/slurm/slurm_down.sh STATE_DIR.
# Needs root (the daemons run as root) and Debian's slurmctld, slurmd,
# slurm-client and munge packages (installed here when missing).
# Exit status 77: Slurm cannot be had here (not root, no packages).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

state=${1:?usage: slurm_up.sh STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)
chmod 700 "$state"
timeout_s=${SLURM_UP_TIMEOUT:-90}

log() { printf '[slurm_up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Exit 77 ("skipped") when not root: the daemons run as root here.
[[ $(id -u) == 0 ]] || { log "must run as root"; exit 77; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# On failure, stop whatever this script had started.
trap 'rc=$?; if ((rc != 0)); then "$here/slurm_down.sh" "$state"; fi' EXIT

# --- packages ---------------------------------------------------------------
need=()
for cmd_pkg in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${cmd_pkg%%:*}" >/dev/null 2>&1 || need+=("${cmd_pkg##*:}")
done
if ((${#need[@]})); then
    command -v apt-get >/dev/null || { log "missing ${need[*]} and no apt-get"; exit 77; }
    log "installing ${need[*]}"
    # Another apt may hold the lock (parallel provisioning): wait for it.
    # Exit 77 ("skipped") when the packages cannot be had: no Slurm to test.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || { log "apt-get update failed"; exit 77; }
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >&2 || { log "apt-get install failed"; exit 77; }
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
# Written by tests/slurm/slurm_up.sh for $state: a one-node test cluster.
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
# Also at Slurm's default path: the Snakemake job step (plugin
# snakemake-executor-plugin-slurm-jobstep) runs `srun` with every SLURM_*
# variable but a few removed, SLURM_CONF included, so inside a job only
# /etc/slurm/slurm.conf is found, as on a real cluster. A slurm.conf that is
# not ours is kept aside and put back by slurm_down.sh.
sys_conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm
if [[ -e $sys_conf ]] && ! grep -q '^# Written by tests/slurm/slurm_up.sh' "$sys_conf"; then
    cp -p "$sys_conf" "$state/slurm.conf.system"
fi
cp "$state/slurm.conf" "$sys_conf"
echo "$sys_conf" >"$state/installed_conf"

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
