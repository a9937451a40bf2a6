"""The `experiments:` settings the workflow refuses when it reads them (not at the last step), and what the He et
al. tables and captions take from them: the valsize table's thresholds, the PSF test's training PSF and grid."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.early_runs import early_test
from helpers.workflow_run import REPO, snakefile_asking


def _dry_run(tmp_path: Path, text: str, *args: str, snakefile: Path = REPO / "Snakefile") -> subprocess.CompletedProcess:
    """``snakemake -n ARGS`` with the default config and ``text`` as a configuration file over it."""
    override = tmp_path / "override.yaml"
    override.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAKEMAKE_")}
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s", str(snakefile), *args,
                           "-d", str(tmp_path / "work"), "--configfile", str(REPO / "config/config.yaml"),
                           str(override)], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


@early_test(3)
@pytest.mark.parametrize("text, message", [
    # Fig. 10 is normalised to the 1.0x set: without it, everything was simulated, trained and scored and the
    # last step failed
    ("experiments: {psf_test: {factors: [0.5, 2.0]}}\n",
     "config: experiments.psf_test.factors: [0.5, 2.0] (set in {file}): expected 1.0 among them"),
    # one set psf_x1, its metrics passed twice with one label: the table crashed
    ("experiments: {psf_test: {factors: [0.5, 1.0, 1.0]}}\n",
     "config: experiments.psf_test.factors: [0.5, 1.0, 1.0] has non-unique elements (set in {file};"),
    ("experiments: {psf_test: {factors: [0.5, 1.0, 1.0000001]}}\n",
     "config: experiments.psf_test.factors: [0.5, 1.0, 1.0000001] (set in {file}): 1.0 and 1.0000001 name the "
     "same set psf_x1; expected distinct values"),
    # every run of the repeated fraction counted twice (n_runs 8 instead of 4)
    ("experiments: {volume_test: {fractions: [0.2, 0.2, 0.5]}}\n",
     "config: experiments.volume_test.fractions: [0.2, 0.2, 0.5] has non-unique elements (set in {file};"),
    ("experiments: {volume_test: {fractions: [0.2, 0.20000001, 0.5]}}\n",
     "0.2 and 0.20000001 name the same subsets f0.2_r*; expected distinct values"),
    ("experiments: {volume_test: {cases: [case0, case0]}}\n",
     "config: experiments.volume_test.cases: ['case0', 'case0'] has non-unique elements"),
    # failed late with "--metrics: no input files"
    ("experiments: {volume_test: {validation_sizes: {sizes: []}}}\n",
     "config: experiments.volume_test.validation_sizes.sizes: [] should be non-empty (set in {file};"),
    ("experiments: {sersic_test: {sersic_columns: []}}\n",
     "config: experiments.sersic_test.sersic_columns: [] should be non-empty"),
    ("experiments: {simulation: {psf_key: psf_fwhm}}\n",
     "config: experiments.simulation.psf_key: 'psf_fwhm' (set in {file}): expected a parameter of the recipes"),
    ("experiments: {simulation: {params: {psf_fwhm_arcsec: [0.45, 1.05, 3]}}}\n",
     "config: experiments.simulation.params: psf_fwhm_arcsec: expected [low, high]"),
], ids=["psf_without_1", "psf_duplicate", "psf_same_name", "fraction_duplicate", "fraction_same_name",
        "case_duplicate", "valsize_sizes_empty", "sersic_columns_empty", "psf_key_unknown", "psf_range_bad"])
def test_experiment_lists_are_refused_when_the_config_is_read(tmp_path, text, message):
    result = _dry_run(tmp_path, text, "psf_test")
    out = result.stdout + result.stderr
    assert result.returncode != 0 and message.format(file=tmp_path / "override.yaml") in out, out[-3000:]
    assert "experiment_simulate" not in out  # nothing planned


@early_test(3)
def test_valsize_table_keeps_the_valsize_thresholds_only(tmp_path):
    """The valsize sets' metrics hold volume_test.threshold too (the volume sets' and theirs are scored by the same
    networks at once): the Fig. 13 table takes validation_sizes.thresholds alone, as its caption says."""
    result = _dry_run(tmp_path, "experiments:\n  volume_test:\n    threshold: 0.8\n"
                                "    validation_sizes: {thresholds: [0.9, 0.5]}\n", "-p", "volume_test")
    assert result.returncode == 0, result.stderr[-3000:]
    command = re.search(r"experiment-table --kind volume_valsize .*", result.stdout)
    assert command and re.search(r" --thresholds 0\.5 0\.9 --out ", command.group(0)), result.stdout[-3000:]


def _rendered_psf_captions(tmp_path, text):
    """The PSF test's two captions as `snakemake --report` renders them (Jinja with the config and the rule's
    params, then reStructuredText) under the default config and ``text``."""
    tmp_path.mkdir()
    snakefile = snakefile_asking(
        tmp_path,
        "import jinja2 as _jinja2\n"
        "from types import SimpleNamespace as _NS\n"
        "from docutils.core import publish_parts as _publish\n"
        "for _name in ('psf_test_table', 'psf_test_figure'):\n"
        "    _rule = workflow.get_rule(_name)\n"
        "    for _file in _rule.output:\n"
        "        _report = getattr(_file, 'flags', {}).get('report')\n"
        "        if _report is not None:\n"
        "            _text = workflow.sourcecache.open(_report.caption).read()\n"
        "            _caption = _jinja2.Template(_text).render(snakemake=_NS(config=config, params=_rule.params))\n"
        "            _publish(_caption, writer_name='html')\n"
        "            print('CAPTION', _name, ' '.join(_caption.split()))\n")
    result = _dry_run(tmp_path, text, "psf_test", snakefile=snakefile)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    captions = dict(line.split(" ", 2)[1:] for line in result.stdout.splitlines() if line.startswith("CAPTION "))
    assert set(captions) == {"psf_test_table", "psf_test_figure"}, result.stdout[-3000:]
    return captions.values()


@early_test(6)
def test_psf_captions_give_the_fiducial_networks_own_training_psf_and_grid(tmp_path):
    """The captions said U(0.55", 0.75") and 0.2"/px 101x101 whatever the fiducial network was trained on."""
    for caption in _rendered_psf_captions(tmp_path / "wide", "experiments:\n  simulation:\n    params: "
                                          "{stamp_size: 81, pixel_scale_arcsec: 0.25, psf_fwhm_arcsec: [0.45, 1.05]}\n"):
        assert 'seed 10, PSF FWHM U(0.45", 1.05"))' in caption, caption
        assert 'on a 0.25"/px 81x81 grid (paper 0.21"/px, 97x97)' in caption, caption
    # the defaults: the he2020 recipe's PSF (He et al. 2020, section 3.4) on the survey's grid
    for caption in _rendered_psf_captions(tmp_path / "default", "{}\n"):
        assert 'seed 10, PSF FWHM U(0.55", 0.75"))' in caption, caption
        assert 'on the survey\'s 0.2"/px 101x101 grid (paper' in caption, caption
