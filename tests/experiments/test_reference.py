"""The papers' reference values: one place, each reachable by experiment and quantity."""

from __future__ import annotations

import subprocess
import sys

from lensfinder.experiments import reference


def test_paper_values_live_in_one_place():
    ref = reference.reference_table()
    value = ref.set_index(["experiment", "quantity"])["value"]
    assert value[("volume_test", "table5.case0.accuracy")] == 0.984
    assert value[("volume_test", "table5.case0.completeness")] == 0.969
    assert value[("sersic_test", "overlap_machine_pct.flat")] == 78.73
    assert value[("entropy", "positives.mean")] == 4.24
    assert value[("li2020_roc", "lrg_candidates")] == 2848
    assert value[("net_comparison", "survey.s_net_candidates")] == 8143


def test_importing_the_experiments_imports_no_tensorflow_and_no_numba():
    code = ("import sys, lensfinder.experiments.reference, lensfinder.experiments.subsets, "
            "lensfinder.experiments.tables, lensfinder.plots.experiments, lensfinder.cli.experiments; "
            "sys.exit(any(m in sys.modules for m in ('tensorflow', 'numba')))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_package_re_exports_lazily():
    import lensfinder.experiments as experiments

    assert experiments.PAPER is reference.PAPER
    assert "select_subset" in dir(experiments) and "psf_table" in experiments.__all__
