"""Configuration the workflow refuses when it is parsed, naming the key and its file, and values that reach the
commands the way Snakemake records them (so that changing one reruns what depends on it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.early_runs import early_test
from helpers.workflow_run import snakefile_asking

REPO = Path(__file__).resolve().parents[2]

#: param functions that take `input`: Snakemake does not record what they return, so they may carry
#: input file paths only (a changed file reruns the job by itself), never a configuration value
PATHS_ONLY = {"notes_option", "mix_options", "rounds_prediction_options", "sim_psf_options", "init_weights_option",
              "ensemble_models_option"}


def _dry_run(workdir: Path, *configfiles: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNAKEMAKE_",))}
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                           "--configfile", str(REPO / "config/config.yaml"), *configfiles],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


@early_test(3)
@pytest.mark.parametrize("text, message", [
    ("inference: {thresholds: {bg_li202: 0.9}}\n", "config: inference.thresholds: 'bg_li202' is not one of"),
    ("ranking: {golden: 0.3}\n", "config: ranking.golden 0.3 is below ranking.high 0.5 (set in "),
    ("simulation: {mix: {broad: 0, sky: 0}}\n", "config: simulation.mix: weights must not all be zero"),
    # experiment test and validation sets drawn from a training set's streams (the papers' recipes draw image
    # i of shard k from SeedSequence([seed, k, i]): the same images), refused in every experiment
    ("experiments: {psf_test: {seed: 10}}\n", "config: experiments (set in "),
    ("experiments: {domain_shift: {test: {n_images: 1000, seed: 61}}}\n", "from a training set's streams (the same"),
    ("experiments: {bands_test: {test: {n_images: 1000, seed: 80}}}\n", "config: experiments.bands_test (set in "),
], ids=["threshold_typo", "golden_below_high", "mix_all_zero", "psf_test_seed", "domain_shift_seed",
        "bands_test_seed"])
def test_bad_values_are_refused_naming_key_and_file(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = _dry_run(tmp_path / "work", str(bad))
    out = result.stdout + result.stderr
    assert result.returncode != 0 and message in out, out[-2000:]
    assert str(bad) in out


def test_params_that_depend_on_input_carry_paths_only(tmp_path):
    """`inspection.n_mix_simulated` and the domain_shift sets' options used to reach their commands through
    functions of `input`, so changing them reran nothing: every such function is now a known paths-only one."""
    snakefile = snakefile_asking(
        tmp_path,
        "import inspect as _inspect\n"
        "for _rule in workflow.rules:\n"
        "    for _name, _value in _rule.params.items():\n"
        "        if callable(_value) and 'input' in _inspect.signature(_value).parameters:\n"
        "            print('INPUT_PARAM', _rule.name, _name, getattr(_value, '__name__', '?'))\n"
        "        elif _name == 'n_mix':\n"
        "            print('N_MIX', _rule.name, _value)\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile", str(snakefile),
                           "--configfile", str(REPO / "config/config.yaml"), str(REPO / "config/experiments/quick.yaml"),
                           "--directory", str(tmp_path / "work")],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith(("INPUT_PARAM", "N_MIX"))]
    functions = {line[3] for line in lines if line[0] == "INPUT_PARAM"}
    assert functions and functions <= PATHS_ONLY, functions - PATHS_ONLY
    assert ["N_MIX", "candidates", "20"] in lines  # a plain value, recorded
    rules_with_inputs = {line[1] for line in lines if line[0] == "INPUT_PARAM"}
    assert not {"domain_shift_simulate", "domain_shift_render"} & rules_with_inputs


def test_training_threads_are_the_configs_whatever_the_cores(tmp_path):
    """TensorFlow's thread count changes the weights (its sums run in another order). The trainings took
    Snakemake's `threads`, which --cores caps, so `--cores 1` trained another network from the same
    config and seed; they now take training.threads itself (a param: a change retrains)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNAKEMAKE_",))}
    three = tmp_path / "three.yaml"
    three.write_text("training: {threads: 3}\n")
    for cores, extra, expected in (("1", [], "--threads 2"), ("2", [str(three)], "--threads 3")):
        result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", "--cores", cores,
                                 "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "work"),
                                 "--configfile", str(REPO / "config/config.yaml"), *extra],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-2000:]
        commands = [line.split("Shell command:", 1)[-1].strip() for line in result.stdout.splitlines()]
        trainings = [c for c in commands if c.startswith(("lensfinder train ", "lensfinder finetune "))]
        assert len(trainings) >= 4 and all(expected in line for line in trainings), trainings
