#!/usr/bin/env bash
# Prove workflow/profiles/slurm against a real Slurm: start a private
# one-node cluster on this host, run the tiny test configuration through the
# profile with the Slurm executor, check every output, stop the daemons.
#
# Usage: tests/slurm/run_slurm_test.sh [--keep]
#   --keep   keep the state directory (configs, daemon logs, the run's copy
#            of the workflow and its results) for inspection
#
# Needs root and Debian's slurmctld, slurmd, slurm-client and munge
# (installed by slurm_up.sh when missing). Exit 0 = passed, 77 = Slurm
# cannot be had here (skipped), anything else = failed. The daemons are
# always stopped (trap), by their pid files; the packages stay installed.
# Environment: SLURM_TEST_TIMEOUT (seconds for the Snakemake run, default 420).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
keep=0
[[ ${1:-} == --keep ]] && keep=1
run_timeout=${SLURM_TEST_TIMEOUT:-600}

log() { printf '[slurm_test %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# The project's environment, exported to the jobs by sbatch --export=ALL.
if [[ -x $repo/.venv/bin/snakemake ]]; then
    export PATH=$repo/.venv/bin:$PATH
fi
command -v snakemake >/dev/null || die "snakemake not found (run make setup)"
python=$(dirname "$(command -v snakemake)")/python
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# The user's cluster settings must not leak into the test cluster.
unset SBATCH_ACCOUNT SBATCH_PARTITION LENSFINDER_GPU_PARTITION LENSFINDER_SLURM_GRES \
    SLURM_JOB_ID SNAKEMAKE_PROFILE

# One test cluster per machine at a time: each installs /etc/slurm/slurm.conf,
# which the jobs of the other would then read.
lock=/run/lock/lensfinder-slurm-test.lock
[[ -d /run/lock ]] || lock=/tmp/lensfinder-slurm-test.lock
exec 9>"$lock"
if ! flock -n 9; then
    log "waiting for another Slurm test on this machine ($lock)"
    flock -w "${SLURM_TEST_LOCK_WAIT:-300}" 9 || die "another Slurm test still holds $lock"
fi

# Short path: the munge socket lives here (unix socket paths: < 108 bytes).
state=$(mktemp -d /tmp/lensfinder-slurm.XXXXXX)
log "state: $state"
cleanup() {
    local rc=$?
    # Our reader (pytest) may be gone: messages must not kill the cleanup.
    trap '' PIPE INT TERM HUP
    "$here/slurm_down.sh" "$state" 9>&- || true
    if ((keep)) || ((rc != 0)); then
        log "state kept in $state (slurm.conf, log/, work/)"
    else
        rm -rf "$state"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
"$here/slurm_up.sh" "$state" 9>&-  # daemons must not hold the lock
# shellcheck source=/dev/null
source "$state/env.sh"
log "cluster up in $((SECONDS - t0)) s"

# --- a trivial job first: is the cluster itself sane? -------------------------
# (Polled here every 0.2 s: `sbatch --wait` polls at growing intervals, ~10 s.)
out=$(sbatch --parsable -o "$state/smoke-%j.out" --wrap 'echo smoke on $(hostname -s)') \
    || die "sbatch --wrap smoke job failed"
smoke_state=
for _ in $(seq 1 300); do
    smoke_state=$(squeue --states=all --noheader --jobs="$out" --format=%T 2>/dev/null | head -n1 || true)
    case $smoke_state in
        COMPLETED) break ;;
        BOOT_FAIL | CANCELLED | DEADLINE | FAILED | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED | TIMEOUT)
            die "smoke job $out ended $smoke_state" ;;
    esac
    sleep 0.2
done
[[ $smoke_state == COMPLETED ]] || die "smoke job $out not completed after 60 s (state: ${smoke_state:-none})"
grep -q "smoke on $(hostname -s)" "$state/smoke-$out.out" || die "smoke job wrote nothing"
log "smoke job $out completed"

# --- the workflow, from a copy (results never touch the checkout) ------------
work=$state/work
mkdir -p "$work"
# envs/ too: Snakemake records the rules' conda: files in its metadata.
cp -r "$repo/Snakefile" "$repo/workflow" "$repo/config" "$repo/envs" "$work/"
# GPUs: none on this node; the number comes from config (training.gpus).
# the profile, not the science: one tile, no retraining rounds (tested by the
# tiny run), small sets, one epoch; every step of the search still runs as a
# Slurm job (each job starts Snakemake twice, so every job counts)
printf 'mock:\n  n_tiles: 1\ntraining:\n  gpus: 0\n  epochs: 1\nlearning:\n  rounds: 0\nsimulation:\n  sets:\n    train: {n_images: 400, n_shards: 1, seed: 11}\n    test: {n_images: 200, n_shards: 1, seed: 12}\n' >"$state/no_gpus.yaml"
# Memory requests capped at this node's (the real profile asks up to 32 GB).
node_mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
"$python" "$here/fit_profile.py" "$repo/workflow/profiles/slurm" "$state/profile" "$node_mem"

cd "$work"
log "snakemake through the slurm profile (timeout ${run_timeout}s)"
t1=$SECONDS
# snakemake_quick_poll.py: snakemake itself, with the plugin's waits between
# status queries capped at 2 s (they grow by 10 s per query in which no job
# finished, which on this small cluster would be most of the run).
set +e
timeout --kill-after=20 "$run_timeout" "$python" "$here/snakemake_quick_poll.py" \
    --profile "$state/profile" \
    --executor slurm \
    --slurm-status-command squeue \
    --slurm-no-account \
    --slurm-init-seconds-before-status-checks 1 \
    --seconds-between-status-checks 2 \
    --slurm-keep-successful-logs \
    --latency-wait 10 \
    --jobs 4 \
    --configfile config/test.yaml "$state/no_gpus.yaml" \
    >"$state/snakemake.log" 2>&1
rc=$?
set -e
run_s=$((SECONDS - t1))
if ((rc != 0)); then
    tail -n 60 "$state/snakemake.log" >&2
    for f in results/logs/*/*.log results/logs/*.log; do
        [[ -s $f ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
    done
    die "snakemake exited $rc after ${run_s}s (log: $state/snakemake.log)"
fi
log "workflow finished in ${run_s}s"

# --- checks -----------------------------------------------------------------
# 1. Every output Snakemake knows of exists, is not empty and is up to date.
snakemake --summary --configfile config/test.yaml "$state/no_gpus.yaml" \
    >"$state/summary.tsv" 2>"$state/summary.err" || die "snakemake --summary failed"
"$python" - "$state/summary.tsv" <<'PY' || die "outputs missing, empty or out of date (see $state/summary.tsv)"
import csv, os, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r.get("output_file")]
bad = [
    r["output_file"] for r in rows
    if not os.path.exists(r["output_file"]) or r["plan"] != "no update"
    or (os.path.isfile(r["output_file"]) and os.path.getsize(r["output_file"]) == 0)
]
print(f"[slurm_test] {len(rows)} outputs in --summary, {len(bad)} missing, empty or stale", file=sys.stderr)
for path in bad:
    print(f"  {path}", file=sys.stderr)
sys.exit(1 if bad or not rows else 0)
PY
# 2. The product: the ranked candidate list.
[[ -s results/candidates/ranked.csv ]] || die "missing or empty: results/candidates/ranked.csv"
# 3. Nothing left to do.
snakemake -n --configfile config/test.yaml "$state/no_gpus.yaml" >"$state/dryrun.log" 2>&1 \
    || die "dry run after the workflow failed"
grep -q "Nothing to be done" "$state/dryrun.log" || die "work left after the run: $state/dryrun.log"
# 4. The jobs really ran as Slurm jobs (named by the run ID), and all completed.
run_id=$(sed -n 's/^SLURM run ID: //p' "$state/snakemake.log" | head -n1)
[[ -n $run_id ]] || die "no 'SLURM run ID' in the log: not run by the Slurm executor?"
squeue --states=all --noheader --name="$run_id" --format='%i|%T|%k' >"$state/squeue.txt"
n_jobs=$(wc -l <"$state/squeue.txt")
n_done=$(grep -c '|COMPLETED|' "$state/squeue.txt" || true)
((n_jobs > 0 && n_jobs == n_done)) || die "slurm jobs: $n_done of $n_jobs completed (see $state/squeue.txt)"
# Every rule job of the run was a Slurm job (the `localrule` ones ran here).
n_rule_jobs=$(grep -c '^rule [A-Za-z0-9_]*:$' "$state/snakemake.log" || true)
((n_jobs == n_rule_jobs)) || die "$n_rule_jobs rule jobs in the log but $n_jobs Slurm jobs"
# The workflow's local rules (figures, grades, the ranked list, each tile's combined scores) ran beside
# Snakemake, not in the queue.
for rule in figure_roc mock_grades merge_scores combine_scores; do
    grep -q "^localrule $rule:$" "$state/snakemake.log" || die "rule $rule did not run as a local rule"
done
# No job asked for a GPU: config training.gpus is 0 here.
if scontrol -o show job | grep -q 'TresPerJob=[^ ]*gpu\|TresPerNode=[^ ]*gpu'; then
    die "a job asked for GPUs although training.gpus is 0"
fi
# 5. Slurm's job logs land where docs/cluster.md says.
#    (.snakemake/slurm_logs/rule_<rule>/<wildcards>/<slurm jobid>.log) and
#    the step's own log in results/logs/.
[[ -n $(find .snakemake/slurm_logs/rule_train -name '*.log' 2>/dev/null) ]] \
    || die "no Slurm log under .snakemake/slurm_logs/rule_train/"
[[ -s results/logs/train/he2020.log ]] || die "no results/logs/train/he2020.log"
log "PASS: $n_done Slurm jobs completed, workflow ${run_s}s, total $((SECONDS - t0))s"
