"""`stamps.size` against the simulation's stamp size: a mismatch stops the run when the workflow is parsed.

Without the check the run simulated and trained, then `infer` refused the
survey stamps (the network is trained on the simulations' size).
"""

from __future__ import annotations

import re

from tests.workflow.test_workflow import copy_workflow, snakemake
from helpers.early_runs import early_test


@early_test(12)
def test_stamp_size_must_match_the_simulations(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = workdir / "config" / "sizes.yaml"
    config.write_text("simulation: {recipe: he2020, params: {stamp_size: 97}}\n")  # He et al. 2020's 97x97
    result = snakemake(workdir, "-n", "--configfile", "config/sizes.yaml", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "stamps.size is 101, but simulation.recipe 'he2020' renders 97x97 stamps" in out
    assert "simulation.params.stamp_size" in out
    config.write_text("simulation: {recipe: he2020}\nstamps: {size: 97}\n")  # bin2 needs 98 for he2020's 49
    result = snakemake(workdir, "-n", "--configfile", "config/sizes.yaml", check=False)
    assert result.returncode != 0
    assert ("stamps.size 97, training.preprocess bin2_crop, model he2020: bin2 needs stamps of at least 98x98"
            in result.stdout + result.stderr)
    config.write_text("stamps: {size: 100}\n")  # no centre pixel
    result = snakemake(workdir, "-n", "--configfile", "config/sizes.yaml", check=False)
    assert result.returncode != 0
    assert re.search(r"config: stamps\.size: 100 \(set in \S*config/sizes\.yaml\): expected an odd number of pixels",
                     result.stdout + result.stderr)
    config.write_text("simulation: {recipe: he2020}\nstamps: {size: 97}\ntraining: {preprocess: crop}\n")
    assert "rule train" in snakemake(workdir, "-n", "--configfile", "config/sizes.yaml").stdout
    config.write_text("simulation: {recipe: skeleton, params: {stamp_sise: 121}}\n")
    result = snakemake(workdir, "-n", "--configfile", "config/sizes.yaml", check=False)
    assert result.returncode != 0
    assert ("config: simulation.params (recipe skeleton, set train): stamp_sise: unknown parameter of recipe "
            "'skeleton' (did you mean 'stamp_size'?); known: " in result.stdout + result.stderr)


@early_test(7)
def test_every_mix_member_takes_the_params_before_the_survey(tmp_path):
    """simulation.params apply to every member of simulation.mix, semi-real ones too: a key one
    member cannot draw stops the dry run, naming the member and the key (it used to pass the dry
    run and fail in the first simulate job, after the survey and its stamps)."""
    workdir = copy_workflow(tmp_path)
    config = workdir / "config" / "mix.yaml"
    config.write_text("simulation: {mix: {broad: 0.8, li2020: 0.2}, params: {field_galaxies: [0, 2]}}\n")
    result = snakemake(workdir, "-n", "--configfile", "config/mix.yaml", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config: simulation.params (recipe li2020, set train): field_galaxies: drawn by draw_scheme=per_block" in out
    config.write_text("simulation: {mix: {broad: 0.8, li2020: 0.1, he2020_semireal: 0.1}}\n")
    out = snakemake(workdir, "-n", "--configfile", "config/mix.yaml").stdout
    assert "rule simulate" in out and "rule train" in out


@early_test(12)
def test_member_params_are_checked_before_the_survey(tmp_path):
    """simulation.member_params (one recipe's overrides) stop the dry run naming the recipe and the key:
    a recipe not simulated, a key the recipe lacks, the pixel grid set for one member; a mix whose
    fully simulated member takes the neighbours li2020 cannot draw plans both."""
    workdir = copy_workflow(tmp_path)
    config = workdir / "config" / "members.yaml"
    for text, error in (
            ("{recipe: broad, member_params: {li2020: {arc_snr: [5, 50]}}}",
             "config: simulation.member_params: li2020: not simulated here (recipes: broad)"),
            ("{mix: {broad: 0.8, li2020: 0.2}, member_params: {broad: {field_galaxy: [0, 2]}}}",
             "config: simulation.params and member_params.broad (recipe broad, set train): field_galaxy: unknown "
             "parameter"),
            ("{mix: {broad: 0.8, skeleton: 0.2}, member_params: {broad: {stamp_size: 61}}}",
             "config: simulation.member_params: broad: stamp_size: every member renders on the mix's one pixel grid")):
        config.write_text(f"simulation: {text}\n")
        result = snakemake(workdir, "-n", "--configfile", "config/members.yaml", check=False)
        assert result.returncode != 0, text
        assert error in result.stdout + result.stderr, (text, (result.stdout + result.stderr)[-1500:])
    config.write_text("simulation: {mix: {broad: 0.8, li2020: 0.2, sky: 0}, member_params: "
                      "{broad: {field_galaxies: [0, 2]}, sky: {lens_fraction: 1}}}\n")
    plan = snakemake(workdir, "-n", "-p", "--configfile", "config/members.yaml").stdout
    commands = [line for line in plan.splitlines() if "lensfinder simulate " in line and "--set-name train " in line]
    assert commands and all("--mix broad=0.8 li2020=0.2 --member-set 'broad:field_galaxies=[0, 2]' " in c
                            for c in commands)
    assert not any("sky:" in c for c in commands)  # a member of weight 0 is left out, with its overrides
