"""The workflow as a user runs it: dry run, lint, config errors, and a tiny
end-to-end run of every stage on the mock survey (config/test.yaml)."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
from helpers.early_runs import early_test, result
from helpers.tiny_run import TWIN_IMAGES, TWIN_TABLES
from helpers.workflow_run import copy_workflow, snakemake

#: AUROC the tiny test configuration (1,600 training images, 3 epochs) must
#: reach on its simulated test set; the default run must reach 0.95.
TINY_AUROC_BAR = 0.85


@pytest.fixture
def workdir(tmp_path):
    return copy_workflow(tmp_path)


@early_test(5, prepare=copy_workflow)
def test_dry_run_shows_every_stage(workdir):
    out = snakemake(workdir, "-n").stdout
    for rule in ("mock_survey", "merge_catalog", "preselect", "stamps", "simulate", "train", "infer",
                 "infer_test", "evaluate", "candidates", "mock_grades", "merge_scores", "figure_roc"):
        assert f"{rule} " in out, rule


def _scoring_jobs(plan: str) -> dict[str, list]:
    """The planned scoring and training commands: ``(threads, tiles)`` of each survey scoring job, the
    threads of the test set's scoring and of training, and the ``--shard`` and input of each round-0 combination."""
    found: dict[str, list] = {"tiles": [], "test": [], "train": [], "combine": []}
    for line in plan.splitlines():
        line = line.strip().removeprefix("Shell command: ")
        if line.startswith("lensfinder combine-scores ") and "results/rounds/" not in line:
            shard = re.search(r"--shard (\S+)", line).group(1)
            found["combine"].append((shard, re.search(r"--predictions (\S+)", line).group(1)))
            continue
        threads = re.search(r"--threads (\d+)", line)
        if not threads:
            continue
        if line.startswith("lensfinder infer ") and "--stamps results/stamps/" in line:
            tiles = re.findall(r"results/stamps/([^/\s]+)\.fits", line)
            found["tiles"].append((int(threads.group(1)), tuple(tiles)))
        elif line.startswith("lensfinder infer ") and "results/sim/test/" in line:
            found["test"].append(int(threads.group(1)))
        elif line.startswith("lensfinder train "):
            found["train"].append(int(threads.group(1)))
    return found


@early_test(8, prepare=copy_workflow)
def test_tiles_are_scored_in_jobs_of_tiles_per_job(workdir):
    """Round 0 scores about inference.tiles_per_job tiles per job (TensorFlow starts once per job), each job
    named by its first tile; the tiles' and the test set's scoring take inference.threads (null:
    training.threads, which training takes); each tile's combination picks its own rows (--shard) from the
    job's table that holds them."""
    from lensfinder.learning.chunks import scoring_chunks

    mock = "mock: {n_tiles: 5}\nlearning: {rounds: 0}\n"
    (workdir / "five.yaml").write_text(mock)
    plan = _scoring_jobs(snakemake(workdir, "-n", "-p", "--cores", "4", "--configfile", "five.yaml").stdout)
    assert plan["tiles"] == [(1, ("MOCK_0", "MOCK_1", "MOCK_2", "MOCK_3", "MOCK_4"))]
    assert plan["test"] == [1] and plan["train"] == [2, 2, 2]  # the training, its fine-tuned copies (training.soup)
    assert sorted(plan["combine"]) == [(f"MOCK_{i}", "results/predictions/members/he2020/chunks/MOCK_0.parquet")
                                       for i in range(5)]

    (workdir / "chunks.yaml").write_text(mock + "training: {threads: 3}\ninference: {tiles_per_job: 2, threads: null}\n")
    plan = _scoring_jobs(snakemake(workdir, "-n", "-p", "--cores", "4", "--configfile", "chunks.yaml").stdout)
    expected = scoring_chunks([f"MOCK_{i}" for i in range(5)], 2)
    assert len(expected) > 1 and sorted(plan["tiles"]) == [(3, tiles) for tiles in expected.values()]
    assert plan["test"] == [3] and plan["train"] == [3, 3, 3]
    assert dict(plan["combine"]) == {tile: f"results/predictions/members/he2020/chunks/{name}.parquet"
                                     for name, tiles in expected.items() for tile in tiles}


@early_test(8, prepare=copy_workflow)
def test_a_tile_inserted_in_the_list_leaves_the_other_scoring_jobs_as_they_are(workdir):
    """A KiDS search's scoring jobs do not follow the tiles' place in kids.tiles: a tile inserted in the middle
    of the list, or the list reordered, leaves every job but the new tile's with the same name and tiles,
    so their scores stand (cut by position, every job after the new tile would take other tiles)."""
    tiles = ["KIDS_129.0_-0.5", "KIDS_130.0_-0.5", "KIDS_131.0_-0.5", "KIDS_132.0_-0.5", "KIDS_133.0_-0.5",
             "KIDS_134.0_-0.5", "KIDS_135.0_-0.5", "KIDS_136.0_-0.5"]

    def jobs(listed):
        (workdir / "kids.yaml").write_text(f"survey: kids_dr4\nkids: {{tiles: [{', '.join(listed)}]}}\n"
                                           "learning: {rounds: 0}\ninference: {tiles_per_job: 2}\n")
        plan = snakemake(workdir, "results/predictions/he2020.parquet", "-n", "-p", "--configfile", "kids.yaml").stdout
        return {held[0]: held for _, held in _scoring_jobs(plan)["tiles"]}

    before = jobs(tiles)
    assert sorted(t for ts in before.values() for t in ts) == tiles and len(before) >= 3
    after = jobs([*tiles[:4], "KIDS_132.5_-0.5", *tiles[4:]])  # cut by position: three jobs would change
    changed = {name for name, ts in after.items() if before.get(name) != ts}
    (name,) = changed
    assert after[name] == tuple(sorted([*before[name], "KIDS_132.5_-0.5"])), (before, after)
    assert set(after) == set(before)
    assert jobs(tiles[::-1]) == before


@early_test(5, prepare=copy_workflow)
def test_lint_is_clean(workdir):
    result = snakemake(workdir, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


@early_test(4, prepare=copy_workflow)
@pytest.mark.parametrize(
    "override, named",
    [("survey=hubble", "survey"), ("seed=-1", "seed"), ("nonsense_key=1", "nonsense_key")],
)
def test_bad_config_stops_the_run_naming_the_key(workdir, override, named):
    result = snakemake(workdir, "-n", "--config", override, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    # one line names the key, what is wrong and where it was set, instead of the whole schema (2,000 lines)
    lines = [line for line in output.splitlines() if line.startswith(f"config: {named}: ")]
    assert len(lines) == 1, output[-3000:]
    assert "(set in --config;" in lines[0]
    assert len(output.splitlines()) < 30, output[-3000:]


@early_test(20, prepare=copy_workflow)
def test_the_colour_residual_follows_the_bands_and_is_checked(workdir):
    """training.colour_residual: auto trains on g-r where the networks see g and r; a pair the bands lack, or
    no pair at all, stops the dry run naming the key."""
    plan = snakemake(workdir, "-n", "-p", "--cores", "2").stdout
    trains = [line for line in (text.strip().removeprefix("Shell command: ") for text in plan.splitlines())
              if line.startswith("lensfinder train ")]
    assert len(trains) == 3 and all("--bands g r i --colour-residual g-r --colour-residual-match psf " in line
                                    for line in trains)
    (workdir / "r.yaml").write_text("bands: [r]\n")
    plan = snakemake(workdir, "-n", "-p", "--cores", "2", "--configfile", "r.yaml").stdout
    assert "--bands r --colour-residual none " in plan and "--colour-residual g-r" not in plan
    for value, bands in (("g-r", "r.yaml"), ("g-z", None), ("gr", None)):
        (workdir / "residual.yaml").write_text(f"training: {{colour_residual: {value}}}\n")
        files = [bands, "residual.yaml"] if bands else ["residual.yaml"]
        result = snakemake(workdir, "-n", "--configfile", *files, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0 and "config: training.colour_residual: " in output, output[-3000:]
    (workdir / "residual.yaml").write_text("training: {colour_residual_match: blur}\n")
    result = snakemake(workdir, "-n", "--configfile", "residual.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "training.colour_residual_match" in output and "'blur'" in output, output[-3000:]


@early_test(3, prepare=copy_workflow)
def test_a_number_inside_a_config_mapping_points_to_configfile(workdir):
    # Snakemake reads the values inside a --config mapping as text: the 6 reaches the schema as '6'
    result = snakemake(workdir, "-n", "--config", "training={'epochs': 6}", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.startswith("config: training.epochs: ")]
    assert len(lines) == 1, output[-3000:]
    assert "'6' is not of type 'integer'" in lines[0] and "with --configfile" in lines[0]


@early_test(5, prepare=copy_workflow)
def test_inference_precision_reaches_every_scoring_job_of_the_search(workdir):
    """inference.precision: the scoring jobs of the tiles (every round's) and of the test set pass it to
    `lensfinder infer` (float32 by default); a precision the scorer lacks stops the dry run, naming the key."""
    def infer_commands(*args):
        plan = snakemake(workdir, "-n", "-p", "--forceall", *args).stdout
        return [line for line in plan.splitlines() if "lensfinder infer " in line]

    default = infer_commands()
    assert len(default) >= 3 and all("--precision float32 " in c for c in default)
    (workdir / "bf16.yaml").write_text("inference: {precision: mixed_bfloat16}\n")
    chosen = infer_commands("--configfile", "bf16.yaml")
    assert len(chosen) == len(default) and all("--precision mixed_bfloat16 " in c for c in chosen)
    (workdir / "bad.yaml").write_text("inference: {precision: float16}\n")
    result = snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0 and "config: inference.precision: 'float16' is not one of" in result.stdout + result.stderr


@early_test(25, prepare=copy_workflow)
def test_a_tile_added_to_the_search_leaves_the_other_tiles_stamps_as_they_are(workdir):
    """A tile's stamps read its own catalogue part and preselection flags: once two tiles are cut, a third
    added to the survey plans its own survey, preselection and stamps and the merged tables again, and not
    the two tiles' stamps (which the merged catalogue fed before, so that one tile more redid every tile's
    stamps and scores). The tiles' flags and cut flows put together are the preselection of the merged
    catalogue, row for row and count for count."""
    from lensfinder.selection.preselect import preselect_files

    def survey(tiles):
        (workdir / "tiles.yaml").write_text(f"mock: {{n_tiles: {tiles}, params: {{size_pix: 600}}}}\nlearning: {{eval_tiles: 1}}\n")

    def plan(tiles, *targets):
        survey(tiles)
        return snakemake(workdir, *targets, "-n", "-p", "--configfile", "tiles.yaml").stdout

    def jobs(text, pattern):
        return sorted(re.findall(pattern, text))

    stamps, preselect = r"lensfinder stamps .*?--tile (MOCK_\d+)", r"lensfinder preselect --catalog \S*/(MOCK_\d+)\.parquet"
    cut = ["results/stamps/MOCK_0.parquet", "results/stamps/MOCK_1.parquet", "results/preselect/flags.parquet",
           "results/catalog/catalog.parquet"]
    survey(2)
    snakemake(workdir, *cut, "--cores", "2", "--configfile", "tiles.yaml")
    results = workdir / "results"
    flags, cutflow = preselect_files(results / "catalog/catalog.parquet", workdir / "f.parquet", workdir / "c.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(results / "preselect/flags.parquet"), flags)
    pd.testing.assert_frame_equal(pd.read_parquet(results / "preselect/cutflow.parquet"), cutflow)
    per_tile = pd.concat([pd.read_parquet(results / f"preselect/tiles/MOCK_{i}.parquet") for i in (0, 1)])
    assert len(per_tile) == len(flags) and flags.drop(columns="ID").any(axis=None), "nothing preselected: says nothing"

    again = plan(3, *cut, "results/stamps/MOCK_2.parquet")
    assert jobs(again, stamps) == ["MOCK_2"], again[-3000:]
    assert jobs(again, preselect) == ["MOCK_2"], again[-3000:]
    assert jobs(again, r"lensfinder mock-survey .*?--tile (MOCK_\d+)") == ["MOCK_2"], again[-3000:]
    assert "lensfinder merge-catalog " in again and "lensfinder merge-preselection " in again
    assert jobs(plan(2, *cut), stamps) == []  # and back to two tiles: nothing to redo


@early_test(5, prepare=copy_workflow)
def test_inference_precision_reaches_the_paper_experiments_and_bands_test(workdir):
    """The paper experiments' and bands_test's scoring jobs follow inference.precision too (float32, the
    papers' precision, by default), keeping their --tta none."""
    targets = ("psf_test", "volume_test", "li2020_roc", "bands_test")

    def infer_commands(*configfiles):
        plan = snakemake(workdir, *targets, "-n", "-p", "--forceall",
                         "--configfile", "config/experiments/quick.yaml", *configfiles).stdout
        return [line for line in plan.splitlines() if "lensfinder infer " in line]

    default = infer_commands()
    for part in ("/experiments/fiducial/scores/", "/experiments/bands_test/scores/", "/survey/"):
        assert any(part in c for c in default), (part, default[:3])
    assert all("--tta none --precision float32 " in c for c in default), default[:3]
    (workdir / "bf16.yaml").write_text("inference: {precision: mixed_bfloat16}\n")
    chosen = infer_commands("bf16.yaml")
    assert len(chosen) == len(default)
    assert all("--tta none --precision mixed_bfloat16 " in c for c in chosen), chosen[:3]


@early_test(9, prepare=copy_workflow)
def test_bad_mock_survey_settings_stop_the_dry_run(workdir):
    # mock.params reach the mock_survey jobs as --set; they are checked when the config is read
    result = snakemake(workdir, "-n", "--config", "mock={'params': {'n_galaxys': 5}}", check=False)
    assert result.returncode != 0
    assert ("config: mock.params: unknown key 'n_galaxys' (did you mean 'n_galaxies'?)"
            in result.stdout + result.stderr)
    (workdir / "small.yaml").write_text("mock: {params: {size_pix: 100}}\n")
    result = snakemake(workdir, "-n", "--configfile", "small.yaml", check=False)
    assert result.returncode != 0
    assert "config: mock.params: size_pix: expected an integer >= 200, got 100" in result.stdout + result.stderr
    (workdir / "small.yaml").write_text("mock: {params: {size_pix: 1000}}\n")
    assert "rule mock_survey" in snakemake(workdir, "-n", "--configfile", "small.yaml").stdout


@early_test(4, prepare=copy_workflow)
def test_real_kids_survey_plans_downloads_per_tile(workdir):
    tiles = "kids={'tiles': ['KIDS_5.6_-28.2', 'KIDS_6.5_-28.2']}"
    out = snakemake(workdir, "-n", "--config", "survey=kids_dr4", tiles).stdout
    assert "download_catalog " in out and "download_tile " in out
    assert "mock_survey" not in out and "mock_grades" not in out
    assert "results/survey/catalog/KIDS_6.5_-28.2.parquet" in out


@early_test(3, prepare=copy_workflow)
def test_dr3_with_dr4_samples_is_refused(workdir):
    result = snakemake(workdir, "-n", "--config", "survey=kids_dr3", "kids={'tiles': ['KIDS_1.0_-31.2']}",
                       "preselection={'release': 'dr3'}", check=False)
    assert result.returncode != 0
    assert "preselection.samples" in result.stdout + result.stderr


def _longest_commands(plan: str) -> dict[str, int]:
    """The longest shell command of each rule in a `snakemake -n -p` plan."""
    longest, rule = {}, None
    for line in plan.splitlines():
        if re.match(r"^(local)?rule \w+:$", line):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("Shell command:") and rule:
            longest[rule] = max(longest.get(rule, 0), len(line.removeprefix("Shell command: ")))
    return longest


@early_test(8, prepare=copy_workflow)
def test_no_command_grows_past_the_argument_limit_with_the_survey(workdir):
    """Linux caps one argument, a rule's whole `bash -c` command, at 128 KiB. A DR4 search's candidates
    command listed three files per tile, 130 KB for 1006 tiles; its lists are now {tile} patterns that
    `lensfinder --tiles-from` expands. Measured between 10 and 60 tiles, no command may grow by more than 60
    bytes a tile (simulate lists the semi-real hosts' cubes, about 40): under 64 KiB at 1006 tiles."""
    names = [f"KIDS_{ra:.1f}_{dec:.1f}" for ra in np.arange(120.0, 186.0, 1.1) for dec in (-0.5, 0.5, 1.5)][:60]
    plans = {}
    for n in (10, 60):
        (workdir / "config" / "tiles.yaml").write_text("kids: {tiles: [" + ", ".join(names[:n]) + "]}\n")
        plans[n] = _longest_commands(snakemake(workdir, "-n", "-p", "--configfile", "config/kids_dr4.yaml",
                                               "config/tiles.yaml").stdout)
    assert {"candidates", "collect_predictions", "merge_catalog", "preselect", "infer"} <= set(plans[60])
    growth = {rule: (plans[60][rule] - plans[10].get(rule, 0)) / 50 for rule in plans[60]}
    assert max(growth.values()) <= 60, sorted(growth.items(), key=lambda item: -item[1])[:3]
    assert max(length + 946 * growth[rule] for rule, length in plans[60].items()) < 64 * 1024


@early_test(3, prepare=copy_workflow)
def test_a_sample_without_a_threshold_is_refused(workdir):
    # a sample with stamps and scores but no threshold could never give a candidate: refused at parse time
    result = snakemake(workdir, "-n", "--config", "preselection={'samples': ['bg_li2020', 'lrg_li2020', 'disk_blue']}",
                       check=False)
    assert result.returncode != 0
    assert "no p_CNN threshold for preselection.samples ['disk_blue']" in result.stdout + result.stderr


@early_test(4, prepare=copy_workflow)
def test_semi_real_recipe_paints_arcs_on_the_survey_stamps(workdir):
    (workdir / "config" / "li.yaml").write_text("simulation: {recipe: li2020}\n")
    plan = snakemake(workdir, "-n", "--forceall", "--configfile", "config/li.yaml").stdout
    blocks = [b for b in plan.split("\n\n") if "rule simulate:" in b]
    assert blocks, "no simulate jobs planned"
    for block in blocks:
        assert "results/stamps/MOCK_0.fits" in block and "results/stamps/MOCK_3.parquet" in block
    # the evaluation tiles (learning.eval_tiles: MOCK_4, MOCK_5) are never trained on
    lines = plan.splitlines()
    inputs = [lines[k + 1] for k, line in enumerate(lines) if line.strip() == "rule simulate:"]
    assert inputs and all("input:" in line and "results/stamps/MOCK_3.fits" in line for line in inputs)
    assert not any("MOCK_4" in line or "MOCK_5" in line for line in inputs)


HE2020_SEMIREAL = """seed: 7
mock:
  n_tiles: 2
  params: {size_pix: 900}
simulation:
  recipe: he2020_semireal
  sets:
    train: {n_images: 240, n_shards: 1, seed: 11}
    test: {n_images: 40, n_shards: 1, seed: 12}
learning: {rounds: 0}
"""


@early_test(4, prepare=copy_workflow)
def test_he2020_semireal_recipe_plans_lrg_hosts_disks_and_tile_psfs(workdir):
    (workdir / "config" / "he.yaml").write_text(HE2020_SEMIREAL)
    plan = snakemake(workdir, "-n", "--forceall", "-p", "--configfile", "config/he.yaml").stdout
    stamps = [b for b in plan.split("\n\n") if "rule stamps:" in b]
    assert stamps and all("--samples bg_li2020 lrg_li2020 disk_blue " in b for b in stamps)
    blocks = [b for b in plan.split("\n\n") if "rule simulate:" in b]
    assert blocks, "no simulate jobs planned"
    for block in blocks:
        for path in ("results/stamps/MOCK_1.parquet", "results/survey/tiles/MOCK_0.r.fits",
                     "results/survey/catalog/MOCK_1.parquet"):
            assert path in block, path
        assert "--recipe he2020_semireal" in block
        for option in ('host_flag="lrg_li2020"', 'negative_flag="lrg_li2020"', 'disk_flag="disk_blue"'):
            assert option in block, option


@pytest.mark.slow
@early_test(35, prepare=copy_workflow)
def test_he2020_semireal_shards_from_the_mock_survey(workdir):
    """He et al. 2020, section 4.2, in the workflow: arcs with the tile PSF on
    the LRG stamps, negatives from the LRGs and the disk_blue galaxies."""
    (workdir / "config" / "he.yaml").write_text(HE2020_SEMIREAL)
    snakemake(workdir, "--cores", "2", "--configfile", "config/he.yaml", "--until", "simulate")
    meta = pd.read_parquet(workdir / "results/sim/train/shard_000.parquet")
    index = pd.concat([pd.read_parquet(workdir / f"results/stamps/MOCK_{i}.parquet") for i in (0, 1)])
    lrg = set(index.loc[index["lrg_li2020"], "object_id"])
    disks = set(index.loc[index["disk_blue"], "object_id"])
    assert disks and not disks & lrg
    assert meta["is_lens"].sum() == 120
    assert set(meta["kind"]) <= {"lens", "host", "host_disk"} and (meta["kind"] == "host_disk").any()
    assert set(meta.loc[meta["kind"].isin(["lens", "host"]), "host_object_id"]) <= lrg
    assert set(meta.loc[meta["kind"] == "host_disk", "host_object_id"]) <= disks
    lenses = meta[meta["is_lens"]]
    assert lenses["arc_flux_ratio"].between(0.02, 0.12).all() and (lenses["n_subhalo"] > 0).all()
    assert (meta["psf_model"] == "epsf").all()
    cube = workdir / "results/sim/train/shard_000.fits"
    from astropy.io import fits

    with fits.open(cube) as hdul:
        data = hdul[0].data if hdul[0].data is not None else hdul[1].data
        # the search's bands (g, r, i): arcs painted in every band of the host, each with its tile's ePSF
        assert data.shape == (240, 3, 101, 101) and np.isfinite(data).all() and hdul[0].header["BANDS"] == "g,r,i"
    assert meta["psf_tile_file_g"].str.endswith(".g.fits").all() and meta["psf_tile_file"].str.endswith(".r.fits").all()
    arcs = lenses["source_amp_g"] / lenses["source_amp"]  # blue sources: g - r ~ 0-1 mag
    assert (arcs > 0).all() and 0.4 < arcs.median() < 1.2
    # each stamp carries its tile's PSF in every band, a Moffat fitted to the tile's stars
    for tile in ("MOCK_0", "MOCK_1"):
        rows = pd.read_parquet(workdir / f"results/stamps/{tile}.parquet")
        for band in "gri":
            header = fits.getheader(workdir / f"results/survey/tiles/{tile}.{band}.fits")
            assert (rows[f"psf_moffat_n_stars_{band}"] >= 3).all()
            assert (rows[f"psf_moffat_fwhm_arcsec_{band}"] - header["PSF_FWHM"]).abs().max() < 0.01, (tile, band)
            assert (rows[f"psf_moffat_beta_{band}"] - header["MOFFBETA"]).abs().max() < 0.6, (tile, band)


@early_test(4, prepare=copy_workflow)
def test_truth_is_read_only_by_evaluation_and_mock_grades(workdir):
    """The search never sees the mock survey's truth tables (checked on the DAG)."""
    plan = snakemake(workdir, "-n", "--forceall").stdout
    readers, rule = set(), None
    for line in plan.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
            rule = stripped.split()[1].rstrip(":")
        elif stripped.startswith("input:") and "survey/truth/" in stripped:
            readers.add(rule)
    # the simulated inspectors of every round, and the evaluation of the retraining rounds
    assert readers == {"mock_grades", "round_mock_grades", "evaluate_rounds"}, readers


@pytest.fixture(scope="module")
def tiny_run():
    """The tiny run's directory (the run starts with the session; tests/helpers/early_runs.py)."""
    return result("tiny")


@pytest.mark.slow
@pytest.mark.early_run("tiny")
def test_tiny_run_leaves_every_output(tiny_run):
    workdir = tiny_run
    results = workdir / "results"
    for rel in ("candidates/ranked.parquet", "candidates/ranked.csv", "candidates/ranked.tex",
                "figures/roc.png", "figures/pcnn_samples.png", "figures/cutflow.png",
                "figures/learning_curve.png", "figures/pcnn_vs_phuman.png", "figures/top_candidates.png",
                "figures/score_histogram.png", "candidates/ranked.fits", "candidates/ranked.ecsv",
                "candidates/ranked.vot", "candidates/summary/index.html",
                "preselect/cutflow.csv", "inspect/manifest.csv", "models/he2020.keras",
                "eval/calibration.csv", "figures/reliability.png", "rounds/1/models/he2020.keras",
                "rounds/1/inspect/manifest.csv", "eval/rounds.csv", "figures/rounds.png"):
        assert (results / rel).is_file(), rel
    ranked = pd.read_parquet(results / "candidates/ranked.parquet")
    for column in ("object_id", "p_cnn", "p_human", "P", "quality"):
        assert column in ranked.columns
    assert (ranked["P"].diff().dropna() <= 0).all(), "ranked by P, highest first"
    # a mock object must not claim to be a KiDS source
    assert (ranked["name"] == ranked["object_id"]).all() and ranked["name"].str.startswith("MOCK J").all()
    assert not list(results.rglob("*.part")), "no temporary files left behind"


@pytest.mark.slow
@pytest.mark.early_run("tiny")
def test_the_model_scored_with_no_options_gets_the_workflows_scores(tiny_run, tmp_path):
    """``lensfinder infer --model results/models/he2020.keras`` and nothing else (as the maintainers'
    held-back validation scores the default model) gives the test set the workflow's scores."""
    from lensfinder.cli import main

    results = tiny_run / "results"
    for cube in sorted((results / "sim/test").glob("shard_*.fits")):
        out = tmp_path / f"{cube.stem}.parquet"
        assert main(["infer", "--model", str(results / "models/he2020.keras"), "--stamps", str(cube),
                     "--index", str(cube.with_suffix(".parquet")), "--out", str(out)]) == 0
        workflow = pd.read_parquet(results / f"eval/he2020/test_{cube.stem.split('_')[1]}.parquet")
        mine = pd.read_parquet(out)
        assert list(mine["object_id"]) == list(workflow["object_id"])
        np.testing.assert_allclose(mine["p_cnn"], workflow["p_cnn"], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.early_run("tiny")
def test_export_network_exports_the_runs_network_for_another_run_to_keep(tiny_run):
    """`snakemake export_network` after a run: the run's network, its weights unchanged, under
    results/networks/ with a sidecar that records the config files and simulation that made it; a run
    that names it as training.init_weights plans to start from it. (Before the rerun test below, which
    deletes the model.)"""
    import json

    from lensfinder.learning.modelfiles import file_hash, load_model

    workdir = tiny_run
    model = workdir / "results/models/he2020.keras"
    before = file_hash(model)
    snakemake(workdir, "--cores", "2", "--configfile", "config/test.yaml", "--", "export_network")
    (exported,) = (workdir / "results/networks").glob("*.keras")
    assert exported.name == "he2020_kids_gri.keras" and file_hash(model) == before
    for a, b in zip(load_model(exported).get_weights(), load_model(model).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    settings = json.loads(exported.with_suffix(".json").read_text())
    provenance = settings["provenance"]
    assert provenance["configfiles"] == ["config/test.yaml"] and provenance["bands"] == ["g", "r", "i"]
    assert provenance["simulation"]["recipe"] == "skeleton"
    assert provenance["simulation"]["train"] == {"n_images": 1600, "n_shards": 2, "seed": 11}
    assert settings["weights_hash"] == file_hash(exported) and settings["seed"] == 7
    assert exported.with_suffix(".history.csv").read_text() == model.with_suffix(".history.csv").read_text()

    (workdir / "keep.yaml").write_text(f"training: {{init_weights: {exported.relative_to(workdir)}, epochs: 0, "
                                       "soup: {train_set: null}}\n")
    plan = snakemake(workdir, "-n", "-p", "--configfile", "config/test.yaml", "keep.yaml", "--",
                     "results/models/he2020.keras").stdout
    assert f"--init-weights {exported.relative_to(workdir)} " in plan and "--epochs 0 " in plan
    result = snakemake(workdir, "-n", "--configfile", "config/test.yaml", "keep.yaml", "--", "export_network",
                       check=False)
    assert result.returncode != 0 and "the file the export would write" in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.early_run("tiny")
def test_tiny_run_network_separates_test_set(tiny_run):
    workdir = tiny_run
    metrics = pd.read_csv(workdir / "results/eval/he2020_metrics.csv")
    assert metrics["auroc"].iloc[0] >= TINY_AUROC_BAR


@pytest.mark.slow
@pytest.mark.early_run("tiny")
def test_rerun_does_nothing_and_deleting_model_reruns_only_downstream(tiny_run):
    workdir = tiny_run
    start = time.monotonic()
    result = snakemake(workdir, "--cores", "2", "--configfile", "config/test.yaml")
    assert time.monotonic() - start < 10
    assert "Nothing to be done" in result.stdout + result.stderr
    (workdir / "results/models/he2020.keras").unlink()
    plan = snakemake(workdir, "-n", "--configfile", "config/test.yaml").stdout
    # the network is the average of the trained one and its fine-tuned copies (training.soup): all are kept,
    # so only the averaging reruns, and everything downstream of it
    assert "\nsoup " in plan and "infer " in plan
    assert "\ntrain " not in plan and "\nsoup_finetune " not in plan
    for upstream in ("mock_survey", "simulate", "stamps", "preselect"):
        assert f"\n{upstream} " not in plan, upstream


@pytest.mark.slow
@pytest.mark.early_run("tiny")
def test_report_builds(tiny_run):
    workdir = tiny_run
    snakemake(workdir, "--report", "results/report.html", "--configfile", "config/test.yaml")
    assert (workdir / "results/report.html").stat().st_size > 10_000


@early_test(4, prepare=copy_workflow)
def test_legacy_survey_plans_one_download_per_field(workdir):
    fields = ("legacy={'fields': [{'name': 'F1', 'ra': 150.1, 'dec': 2.2}, "
              "{'name': 'F2', 'ra': 150.3, 'dec': 2.2, 'size_pix': 500}]}")
    out = snakemake(workdir, "-n", "-p", "--config", "survey=legacy_dr10", fields).stdout
    assert out.count("lensfinder download-legacy-field") == 2
    assert "--field F2 --ra 150.3 --dec 2.2 --size-pix 500" in out
    assert "--field F1 --ra 150.1 --dec 2.2 --size-pix 2000" in out  # the schema's default side
    assert "results/survey/catalog/F2.parquet" in out and "results/stamps/F1.parquet" in out
    for rule in ("mock_survey", "mock_grades", "download_catalog", "download_tile"):
        assert rule not in out, rule


@early_test(5, prepare=copy_workflow)
def test_legacy_survey_needs_fields(workdir):
    result = snakemake(workdir, "-n", "--config", "survey=legacy_dr10", check=False)
    assert result.returncode != 0 and "legacy.fields" in result.stdout + result.stderr
    result = snakemake(workdir, "-n", "--config", "survey=legacy_dr10",
                       "legacy={'fields': [{'name': 'F1', 'ra': 150.1, 'dec': 2.2, 'size_pix': 5000}]}", check=False)
    assert result.returncode != 0 and "5000" in result.stdout + result.stderr


@early_test(11, prepare=copy_workflow)
def test_legacy_field_runs_to_stamps_against_local_services(workdir):
    """download_legacy_field -> merge_catalog -> preselect -> stamps, with the services on 127.0.0.1."""
    import yaml
    from helpers.tapserver import TapServer
    from surveys.test_legacy import FIELD_DEC, FIELD_RA, FIELD_SIZE, field_fits, tractor_rows

    with TapServer() as server:
        server.tables["ls_dr10.tractor"] = tractor_rows()
        server.legacy_image = field_fits
        config = {
            "survey": "legacy_dr10",
            "legacy": {"fields": [{"name": "F1", "ra": FIELD_RA, "dec": FIELD_DEC, "size_pix": FIELD_SIZE}],
                       "tap_url": f"{server.url}/tap_dl", "cutout_url": f"{server.url}/viewer/fits-cutout",
                       "retries": 1},
            "stamps": {"size": 101},
            "simulation": {"params": {"pixel_scale_arcsec": 0.262, "stamp_size": 101}},
        }
        (workdir / "legacy.yaml").write_text(yaml.safe_dump(config))
        snakemake(workdir, "results/stamps/F1.parquet", "--cores", "2", "--configfile", "legacy.yaml", timeout=300)
    index = pd.read_parquet(workdir / "results/stamps/F1.parquet")
    assert len(index) == 2 and (index["tile"] == "F1").all()
    assert index["pixel_scale_arcsec"].eq(0.262).all() and index["psf_fwhm_arcsec"].eq(1.2).all()
    assert (workdir / "results/cache/legacy").is_dir()
    for band in ("g", "r", "z"):  # one cutout request and one tile file per band of the Legacy preset
        assert (workdir / f"results/survey/tiles/F1.{band}.fits").is_file(), band
    assert {r[2]["bands"] for r in server.requests if r[1] == "/viewer/fits-cutout"} == {"g", "r", "z"}
    assert not list((workdir / "results").rglob("*.part"))


@pytest.mark.slow
@pytest.mark.early_run("tiny")
@pytest.mark.early_run("tiny_twin")
def test_same_config_and_seed_give_the_same_files(tiny_run):
    """A second run of the tiny configuration elsewhere reproduces tables and images (contents, not bytes)."""
    from astropy.io import fits

    first = tiny_run
    second = result("tiny_twin")
    for rel in TWIN_IMAGES:
        np.testing.assert_array_equal(fits.getdata(first / rel), fits.getdata(second / rel), err_msg=rel)
    for rel in TWIN_TABLES:
        a, b = pd.read_parquet(first / rel), pd.read_parquet(second / rel)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=rel)
