"""The Slurm profile against a real (one-node) Slurm.

Runs tests/slurm/run_slurm_test.sh: installs Debian's Slurm and munge when
missing, starts munged, slurmctld and slurmd on this host, runs the tiny
test configuration through workflow/profiles/slurm with the Slurm executor,
checks every output and stops the daemons. Needs root and apt (or the
packages already installed); otherwise skipped with the reason. The script
starts with the session (tests/helpers/early_runs.py): its run is mostly
waiting on the queue, which the quick tests fill.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.early_runs import early_run, result
from helpers.workflow_run import snakefile_asking

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "slurm" / "run_slurm_test.sh"
#: exit status of the script when Slurm cannot be had here
SKIPPED = 77
#: the whole test: install (first time), cluster start, workflow, checks
TIMEOUT_S = 1200
#: the Snakemake run inside it (the rest is waiting for another test's lock,
#: starting and stopping the cluster); it shares two cores with the session's
#: other tests
RUN_TIMEOUT_S = 600

SLURM_BINARIES = ("slurmctld", "slurmd", "sbatch", "munged")


def _why_no_slurm() -> str | None:
    """Why a Slurm cannot be started here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"Slurm test needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "Slurm test needs root (it starts munged, slurmctld and slurmd)"
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [b for b in SLURM_BINARIES if shutil.which(b, path=search) is None]
    if missing and shutil.which("apt-get") is None:
        return f"Slurm not installed ({', '.join(missing)} missing) and no apt-get to install it"
    if shutil.which("bash") is None:
        return "Slurm test needs bash"
    return None


def _run(env: dict[str, str]) -> tuple[int, str]:
    """Run the script in its own session; on timeout stop it the way a user's Ctrl-C would."""
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        # SIGTERM to the whole group: Snakemake cancels its Slurm jobs, then
        # the script's trap stops the daemons.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        # Backstop: the daemons are not in the group; stop them by pid file.
        for line in output.splitlines():
            if line.startswith("[slurm_test") and "state: " in line:
                state = line.split("state: ", 1)[1].strip()
                subprocess.run(["bash", str(SCRIPT.with_name("slurm_down.sh")), state], check=False)
        pytest.fail(f"{SCRIPT.name} ran over {TIMEOUT_S} s:\n{output[-4000:]}")


@early_run("slurm", expected_s=300)
def _slurm_run(_workdir: Path) -> tuple[int, str]:
    """The script's exit status and output (it keeps its own state directory)."""
    reason = _why_no_slurm()
    if reason:
        pytest.skip(reason)
    # The script bounds the Snakemake run itself, well inside our timeout.
    env = dict(os.environ, SLURM_TEST_TIMEOUT=str(RUN_TIMEOUT_S), SLURM_TEST_LOCK_WAIT="300")
    return _run(env)


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.early_run("slurm")
def test_workflow_runs_through_the_slurm_profile_on_a_real_slurm() -> None:
    returncode, output = result("slurm")
    if returncode == SKIPPED:
        pytest.skip(f"Slurm cannot be had here: {output.strip().splitlines()[-1]}")
    assert returncode == 0, f"{SCRIPT.name} exited {returncode}:\n{output[-6000:]}"
    assert "PASS:" in output


# --- the profiles themselves, without a Slurm (fast) ---------------------------


def _dry_run(profile: str, env_extra: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`snakemake -n` through a profile; the `resources:` line of each rule's first job."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "LENSFINDER_", "SNAKEMAKE_"))}
    env.update(env_extra)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--profile", str(REPO / profile),
         "--configfile", "config/test.yaml", "--directory", str(tmp_path)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    resources: dict[str, str] = {}
    rule = None
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("resources:"):
            resources.setdefault(rule, line.strip())
    return resources


def _resource(line: str, name: str) -> str | None:
    for item in line.removeprefix("resources:").split(","):
        key, _, value = item.strip().partition("=")
        if key == name:
            return value
    return None


def test_slurm_profile_sets_resources_from_the_environment(tmp_path: Path) -> None:
    plain = _dry_run("workflow/profiles/slurm", {}, tmp_path)
    assert _resource(plain["train"], "mem_mb") == "32000"
    assert _resource(plain["train"], "runtime") == "720"
    assert _resource(plain["train"], "gpu") == "0"  # from config training.gpus
    assert _resource(plain["train"], "gres") is None
    assert _resource(plain["train"], "slurm_partition") is None
    assert _resource(plain["stamps"], "mem_mb") == "8000"

    env = {
        "SBATCH_ACCOUNT": "lens42",
        "SBATCH_PARTITION": "cpu",
        "LENSFINDER_GPU_PARTITION": "gpu",
        "LENSFINDER_SLURM_GRES": "gpu:a100:1",
    }
    cluster = _dry_run("workflow/profiles/slurm", env, tmp_path)
    assert _resource(cluster["train"], "slurm_partition") == "gpu"
    assert _resource(cluster["train"], "gres") == "gpu:a100:1"
    assert _resource(cluster["train"], "gpu") == "0"  # --gres instead of --gpus
    assert _resource(cluster["infer"], "gres") == "gpu:a100:1"
    assert _resource(cluster["stamps"], "slurm_partition") == "cpu"
    assert _resource(cluster["stamps"], "slurm_account") == "lens42"
    assert _resource(cluster["stamps"], "gres") is None


def test_default_profile_dry_run(tmp_path: Path) -> None:
    local = _dry_run("workflow/profiles/default", {}, tmp_path)
    assert {"train", "infer", "stamps"} <= set(local)
    assert _resource(local["train"], "mem_mb") == "6000"  # the Snakefile's own value


def _gpu_rules() -> set[str]:
    """Rules whose jobs ask for GPUs (a `gpu=` resource), with the rules made from them by `use rule`."""
    text = "\n".join(path.read_text() for path in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    blocks = re.split(r"^\s*(?=rule \w+:|use rule \w+ as \w+)", text, flags=re.M)
    gpu, uses = set(), []
    for block in blocks:
        own = re.match(r"rule (\w+):", block)
        used = re.match(r"use rule (\w+) as (\w+)", block)
        if own and "gpu=" in block:
            gpu.add(own.group(1))
        elif used:
            uses.append(used.groups())
    for parent, child in uses:
        if parent in gpu:
            gpu.add(child)
    return gpu


def test_every_gpu_rule_goes_to_the_gpu_partition() -> None:
    """On a cluster, a job asking for GPUs on a partition without them is refused or waits for ever: every
    rule with a `gpu` resource takes $LENSFINDER_GPU_PARTITION and $LENSFINDER_SLURM_GRES."""
    import yaml

    rules = _gpu_rules()
    assert {"train", "soup_finetune", "infer", "rescore", "domain_shift_train", "bands_test_infer"} <= rules
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())["set-resources"]
    for rule in sorted(rules):
        assert profile.get(rule, {}).get("?if gpu_partition") == {"slurm_partition": "?gpu_partition"}, rule
        assert profile[rule].get("?if gres") == {"gres": "?gres", "gpu": 0}, rule


def test_both_profiles_limit_every_custom_resource_the_rules_take() -> None:
    """Resources the rules count (archive downloads, TAP connections) mean nothing without a limit: with
    `jobs: 200` every tile's download would start at once."""
    import yaml

    text = "\n".join(path.read_text() for path in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    custom = set(re.findall(r"^\s+(\w+)=1,$", text, flags=re.M)) - {"gpu"}
    assert {"download_slots", "tap_connections"} <= custom
    for profile in ("default", "slurm"):
        limits = yaml.safe_load((REPO / f"workflow/profiles/{profile}/config.yaml").read_text())["resources"]
        assert all(isinstance(limits.get(name), int) and limits[name] >= 1 for name in custom), (profile, limits)


def test_rules_of_seconds_run_beside_snakemake_and_their_round_copies_too(tmp_path: Path) -> None:
    """On a cluster a local rule runs beside Snakemake instead of waiting in the queue: each tile's
    preselection and combined scores (1,006 of each in a DR4 search), the figures and tables. `use rule`
    does not carry `localrule: True` over, so the retraining rounds' copies must say it again; the
    heavy rules stay Slurm jobs. Asked of Snakemake itself, with the rounds on (the default config)."""
    snakefile = snakefile_asking(tmp_path,
                                 'print("LOCAL_RULES", *sorted(r.name for r in workflow.rules if r.name in workflow._localrules))\n'
                                 'print("ALL_RULES", *sorted(r.name for r in workflow.rules))\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "LENSFINDER_", "SNAKEMAKE_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile", str(snakefile),
         "--configfile", str(REPO / "config/config.yaml"), "--directory", str(tmp_path / "work")],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = {line.split()[0]: set(line.split()[1:]) for line in proc.stdout.splitlines()
             if line.startswith(("LOCAL_RULES", "ALL_RULES"))}
    local, every = lines["LOCAL_RULES"], lines["ALL_RULES"]
    seconds = {"preselect_tile", "combine_scores", "crossmatch", "merge_scores", "mock_grades", "figure_roc"}
    assert seconds <= local, seconds - local
    copies = {f"round_{rule}" for rule in seconds} & every
    assert {"round_combine_scores", "round_crossmatch", "round_merge_scores", "round_mock_grades"} <= copies
    assert copies <= local, copies - local
    assert not {"stamps", "simulate", "train", "infer", "rescore", "round_infer_test", "candidates"} & local
