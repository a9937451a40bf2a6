"""The experiments' DAG: every target dry-runs with the quick preset, with the expected job counts."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import yaml
from helpers.early_runs import early_test
from helpers.workflow_run import REPO


def _planned_jobs(workdir, preset: str, repo_root=REPO) -> Counter:
    """Jobs per rule of a dry run of all_experiments with ``config/experiments/{preset}.yaml`` over the default,
    in an empty working directory (the counts do not depend on what results/ holds)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "all_experiments", "-s", str(repo_root / "Snakefile"),
           "-d", str(workdir), "--configfile", str(repo_root / "config/config.yaml"),
           str(repo_root / f"config/experiments/{preset}.yaml")]
    result = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = Counter()
    for line in (result.stdout + result.stderr).splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


@early_test(20)
def test_dry_run_all_experiments_quick(tmp_path, repo_root=REPO):
    """The DAG of all experiments with the quick preset, and its job counts."""
    counts = _planned_jobs(tmp_path, "quick", repo_root)
    # quick preset: 9 PSF sets + 2 fiducial + 2 parent + 2 validation + 2 valsize + 2 r-Net + 2 + 1 Li et al.
    assert counts["experiment_simulate"] == 22
    # volume 3 fractions x 2 repeats, Sersic 2 distributions x 2 sets
    assert counts["experiment_subset"] == 10
    # s-Net, r-Net, Li et al. + 2 cases x 6 subsets + 4 Sersic networks
    assert counts["experiment_train"] == 19
    # PSF 9 + volume 12 networks x 2 validation sets + 6 case-2 networks x 2 sizes + Li et al. test
    assert counts["experiment_infer"] == 46
    assert counts["experiment_evaluate"] == 46
    n_tiles = yaml.safe_load((repo_root / "config/config.yaml").read_text())["mock"]["n_tiles"]
    assert counts["experiment_infer_survey"] == 7 * n_tiles
    for rule in ("psf_test_figure", "volume_test_table5", "sersic_test_tables", "entropy_table",
                 "net_comparison_tables", "li2020_roc_figure", "paper_reference", "all_experiments"):
        assert counts[rule] == 1, rule


@early_test(12)
def test_dry_run_all_experiments_paper(tmp_path, repo_root=REPO):
    """The paper preset, as the README runs it, plans He et al.'s 200 volume-test networks (5 cases x 8 sizes
    x 5 subsets) and 40 Sersic-test networks, besides the s-Net, r-Net and Li et al.'s."""
    assert _planned_jobs(tmp_path, "paper", repo_root)["experiment_train"] == 200 + 40 + 3


def _quick_dry_run(tmp_path, repo_root, target, override_text):
    """``snakemake -n -p TARGET`` with the quick preset and ``override_text`` over it; must plan."""
    override = tmp_path / "override.yaml"
    override.write_text(override_text)
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", target, "-s", str(repo_root / "Snakefile"),
           "-d", str(tmp_path / "work"), "--configfile", str(repo_root / "config/config.yaml"),
           str(repo_root / "config/experiments/quick.yaml"), str(override)]
    result = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@early_test(8)
def test_volume_test_evaluates_and_tabulates_its_threshold_to_every_digit(tmp_path, repo_root=REPO):
    """A threshold of 0.9999999 reaches `lensfinder evaluate` as such (not rounded to 1 by six significant
    digits), beside the validation-size thresholds in the same metrics file; simple ones stay short."""
    result = _quick_dry_run(tmp_path, repo_root, "volume_test_table5",
                            "experiments:\n  volume_test:\n    threshold: 0.9999999\n")
    evaluated = {m.group(1).strip() for m in re.finditer(r"lensfinder evaluate .*?--thresholds ([0-9. ]+)", result.stdout)}
    assert len(evaluated) == 1, evaluated
    thresholds = evaluated.pop().split()
    assert "0.9999999" in thresholds and "1" not in thresholds and "0.5" in thresholds, thresholds
    assert re.search(r"experiment-table --kind volume_table5 .* --threshold 0\.9999999 ", result.stdout)


@early_test(8)
def test_r_net_on_he2020s_semireal_set_excludes_the_planted_lenses(tmp_path, repo_root=REPO):
    """r-Net may train on He et al.'s own semi-real set (section 4.2): its simulation reads the tiles' images and
    catalogues for the ePSFs, and the mock survey's truth so that no planted lens is a host or a negative."""
    result = _quick_dry_run(tmp_path, repo_root, "net_comparison",
                            "experiments:\n  net_comparison:\n    r_net: {recipe: he2020_semireal}\n")
    commands = [line for line in result.stdout.splitlines() if "lensfinder simulate --recipe he2020_semireal" in line]
    assert commands and all("--psf-tiles results/survey/tiles/MOCK_0" in c and "--psf-catalogs" in c and
                            "host_exclude=" in c and "results/survey/truth/MOCK_5.parquet" in c and
                            'negative_flag="lrg_li2020"' in c for c in commands)
