"""Bad input to the inspection and score steps (audit 23): one ``error:`` line naming the file, the column or
option and what was expected, exit status 2; no traceback, no silently wrong output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.cli_errors import one_error_line

from lensfinder.cli import main
from lensfinder.inspection.candidates import load_band_stamps, select_candidates
from lensfinder.inspection.ranking import ranked_digest
from lensfinder.checks import require_unit_interval
from lensfinder.io import InputError, write_cube, write_table
from lensfinder.learning.predictions import collect_prediction_files


_error = one_error_line


def _tile(tmp_path, tile: str, n: int, *, ids=None, flag=None, cube_tile=None, cube_n=None):
    """An index of ``n`` rows of ``tile`` and a cube (TILE ``cube_tile``, ``cube_n`` images)."""
    ids = ids or [f"{tile}_o{k}" for k in range(n)]
    index = pd.DataFrame({"object_id": ids, "tile": tile, "ra": np.arange(n, dtype=float),
                          "dec": np.zeros(n), "lrg_li2020": [True] * n if flag is None else flag})
    write_table(index, tmp_path / f"{tile}.parquet")
    images = np.random.default_rng(0).normal(size=(cube_n or n, 9, 9)).astype(np.float32)
    write_cube(images, tmp_path / f"{tile}.fits", 0.2, 30.0, header_cards={"TILE": cube_tile or tile})
    return tmp_path / f"{tile}.parquet", tmp_path / f"{tile}.fits"


def _predictions(tmp_path, name, ids, p, shard="T0"):
    path = tmp_path / name
    write_table(pd.DataFrame({"object_id": ids, "p_cnn": p, "shard": shard}), path)
    return path


# ---------------------------------------------------------------- 1: a cube must belong to its index


def test_candidates_refuses_a_cube_that_is_not_its_indexs(tmp_path, capsys):
    idx0, cube0 = _tile(tmp_path, "T0", 4)
    idx1, cube1 = _tile(tmp_path, "T1", 4)
    pred = _predictions(tmp_path, "p.parquet", [f"T0_o{k}" for k in range(4)], [0.99] * 4)
    base = ["candidates", "--predictions", pred, "--threshold", "lrg_li2020=0.5"]
    # swapped cubes of the same length: only TILE tells them apart
    _error(capsys, [*base, "--stamp-index", idx0, idx1, "--stamp-cube", cube1, cube0, "--out-dir", tmp_path / "a"],
           "T0.parquet", "T1.fits", "tile", "'T0'", "'T1'")
    # a cube of another length (a short or long index)
    idx2, cube2 = _tile(tmp_path, "T2", 3, cube_n=5)
    _error(capsys, [*base, "--stamp-index", idx2, "--stamp-cube", cube2, "--out-dir", tmp_path / "b"],
           "T2.parquet", "3 rows", "T2.fits", "5 stamps")
    argv = [*base, "--stamp-index", idx0, idx1, "--stamp-cube", cube0, cube1, "--out-dir", tmp_path / "ok"]
    assert main([str(a) for a in argv]) == 0


def test_finetune_stamps_refuse_a_cube_that_is_not_its_indexs(tmp_path):
    idx0, cube0 = _tile(tmp_path, "T0", 4)
    idx1, cube1 = _tile(tmp_path, "T1", 4)
    with pytest.raises(InputError, match=r"T0\.parquet: tile: 'T0', but its --stamp-cube .*T1\.fits is of TILE 'T1'"):
        load_band_stamps(["T0_o1"], [idx0, idx1], [cube1, cube0])
    idx2, cube2 = _tile(tmp_path, "T2", 6, cube_n=4)  # an index longer than its cube: was an IndexError
    with pytest.raises(InputError, match=r"T2\.parquet: 6 rows, but its --stamp-cube .*T2\.fits holds 4 stamps"):
        load_band_stamps(["T2_o5"], [idx2], [cube2])
    stamps, _ = load_band_stamps(["T0_o1", "T1_o2"], [idx0, idx1], [cube0, cube1])
    assert set(stamps) == {"T0_o1", "T1_o2"}


# ---------------------------------------------------------------- 2, 7: collect-predictions


def _catalog(tmp_path, ids):
    path = tmp_path / "cat.parquet"
    write_table(pd.DataFrame({"ID": ids, "MAG_AUTO": 20.0, "RAJ2000": 0.0, "DECJ2000": 0.0}), path)
    return path


def test_collect_predictions_refuses_text_flags_missing_position_duplicates_and_bad_scores(tmp_path):
    ids = [f"T0_o{k}" for k in range(4)]
    idx, _ = _tile(tmp_path, "T0", 4, flag=["True", "False", "False", "False"])
    pred = _predictions(tmp_path, "p.parquet", ids, [0.1, 0.2, 0.3, 0.4])
    cat = _catalog(tmp_path, ids)
    with pytest.raises(InputError, match=r"T0\.parquet: lrg_li2020: 'True' is not a boolean"):
        collect_prediction_files([pred], [idx], cat, tmp_path / "out.parquet")
    write_table(pd.read_parquet(idx).drop(columns=["ra", "lrg_li2020"]), tmp_path / "nora.parquet")
    with pytest.raises(InputError, match=r"nora\.parquet: missing column\(s\) ra"):
        collect_prediction_files([pred], [tmp_path / "nora.parquet"], cat, tmp_path / "out.parquet")
    good, _ = _tile(tmp_path, "T1", 4, ids=ids)
    with pytest.raises(InputError, match=r"p\.parquet: object_id: 'T0_o0' is scored twice in shard 'T0'"):
        collect_prediction_files([pred, pred], [good], cat, tmp_path / "out.parquet")
    other = _predictions(tmp_path, "p1.parquet", ids, [0.5] * 4, shard="T1")  # the same objects in another tile
    assert len(collect_prediction_files([pred, other], [good], cat, tmp_path / "out.parquet")) == 8
    bad = _predictions(tmp_path, "range.parquet", ids, [0.1, 1.5, np.nan, 0.2])
    with pytest.raises(InputError, match=r"range\.parquet: p_cnn: 1 value\(s\) outside \[0, 1\], e\.g\. 1\.5"):
        collect_prediction_files([bad], [good], cat, tmp_path / "out.parquet")


# ---------------------------------------------------------------- 3: candidates' flags


def test_candidates_refuses_text_sample_flags(tmp_path, capsys):
    idx, cube = _tile(tmp_path, "T0", 3, flag=["True", "False", "False"])
    pred = _predictions(tmp_path, "p.parquet", [f"T0_o{k}" for k in range(3)], [0.9] * 3)
    _error(capsys, ["candidates", "--predictions", pred, "--threshold", "lrg_li2020=0.5", "--stamp-index", idx,
                    "--stamp-cube", cube, "--out-dir", tmp_path / "c"],
           "T0.parquet", "lrg_li2020", "'True' is not a boolean")
    index = pd.DataFrame({"object_id": ["a"], "lrg_li2020": ["False"]})
    with pytest.raises(InputError, match="lrg_li2020: 'False' is not a boolean"):
        select_candidates(pd.DataFrame({"object_id": ["a"], "p_cnn": [0.9]}), index, {"lrg_li2020": 0.5})


# ---------------------------------------------------------------- 4, 5: merge-scores


def _merge_inputs(tmp_path):
    ids = ["a", "b"]
    pred = _predictions(tmp_path, "cand.parquet", ids, [0.9, 0.8])
    grades = tmp_path / "g.csv"
    grades.write_text("object_id,inspector,grade\na,x,A\nb,x,B\n")
    return ["merge-scores", "--predictions", pred, "--grades", grades, "--scheme", "li2020",
            "--out", tmp_path / "ranked.parquet"]


@pytest.mark.parametrize("golden, high, needle", [
    ("1.5", "0.5", "--golden: 1.5: expected a threshold on P in [0, 1]"),
    ("0.7", "-0.2", "--high: -0.2: expected a threshold on P in [0, 1]"),
    ("nan", "0.5", "--golden: nan"),
    ("0.3", "0.6", "--golden: 0.3 is below --high 0.6; expected golden >= high"),
])
def test_merge_scores_refuses_thresholds_the_config_schema_refuses(tmp_path, capsys, golden, high, needle):
    _error(capsys, [*_merge_inputs(tmp_path), "--golden", golden, "--high", high], needle)
    assert not (tmp_path / "ranked.parquet").exists()


def test_merge_scores_catalog_needs_positions_and_magnitudes(tmp_path, capsys):
    argv = _merge_inputs(tmp_path)
    write_table(pd.DataFrame({"ID": ["a", "b"], "RAJ2000": 1.0, "DECJ2000": 2.0}), tmp_path / "nomag.parquet")
    _error(capsys, [*argv, "--catalog", tmp_path / "nomag.parquet"], "nomag.parquet", "MAG_AUTO")
    write_table(pd.DataFrame({"ID": ["a", "b"], "RAJ2000": 1.0, "DECJ2000": 2.0, "MAG_AUTO": 20.0}),
                tmp_path / "cat.parquet")
    assert main([str(a) for a in [*argv, "--catalog", tmp_path / "cat.parquet"]]) == 0
    assert (pd.read_parquet(tmp_path / "ranked.parquet")["r_auto_mag"] == 20.0).all()


# ---------------------------------------------------------------- 6: digest


def test_digest_needs_its_schemes_columns_and_a_boolean_known_lens(tmp_path, capsys):
    ranked = pd.DataFrame({"object_id": ["a", "b"], "rank": [1, 2], "p_cnn": [0.9, 0.8], "P": [0.8, 0.6],
                           "quality": ["golden", "high"],
                           "known_lens": pd.array([True, pd.NA], dtype="boolean")})
    assert len(ranked_digest(ranked)) == 3
    for drop, column in (("P", "P"), ("quality", "quality")):
        write_table(ranked.drop(columns=drop), tmp_path / f"no{drop}.parquet")
        _error(capsys, ["digest", tmp_path / f"no{drop}.parquet"], f"no{drop}.parquet", f"missing column(s) {column}")
    he = pd.DataFrame({"object_id": ["a"], "rank": [1], "p_cnn": [0.9], "score_sum": [5.0], "further_vote": [False]})
    write_table(he, tmp_path / "he.parquet")
    _error(capsys, ["digest", tmp_path / "he.parquet"], "he.parquet", "final_list")
    write_table(ranked.assign(known_lens=["False", "True"]), tmp_path / "knownstr.parquet")
    _error(capsys, ["digest", tmp_path / "knownstr.parquet"], "knownstr.parquet", "known_lens: 'False' is not a boolean")


# ---------------------------------------------------------------- 7: scores in [0, 1]


def test_scores_outside_the_unit_interval_are_refused(tmp_path, capsys):
    ids = [f"o{k}" for k in range(6)]
    labels = tmp_path / "lab.parquet"
    write_table(pd.DataFrame({"object_id": ids, "is_lens": [True, False] * 3}), labels)
    bad = tmp_path / "bad.parquet"
    write_table(pd.DataFrame({"object_id": ids, "p_cnn": [0.1, 0.2, np.inf, 0.4, 0.5, np.nan], "model": "m"}), bad)
    _error(capsys, ["evaluate", "--predictions", bad, "--labels", labels, "--out", tmp_path / "e.parquet",
                    "--roc", tmp_path / "roc.parquet"], "bad.parquet", "p_cnn", "inf", "[0, 1]")
    _error(capsys, ["calibrate", "--predictions", bad, "--labels", labels, "--out", tmp_path / "c.json",
                    "--summary", tmp_path / "s.parquet", "--reliability", tmp_path / "r.parquet"],
           "bad.parquet", "p_cnn", "inf")
    calibration = tmp_path / "cal.json"
    calibration.write_text('{"method": "beta", "params": {"m": {"a": 1.0, "b": 1.0, "c": 0.0}}}')
    _error(capsys, ["combine-scores", "--predictions", bad, "--calibration", calibration, "--out", tmp_path / "cs.parquet"],
           "bad.parquet", "p_cnn", "inf")
    require_unit_interval(np.array([0.0, 1.0, np.nan]), "f", "p_cnn")
    with pytest.raises(InputError, match=r"f: p_cnn_raw: 1 value\(s\) outside \[0, 1\], e\.g\. -0\.1"):
        require_unit_interval(np.array([0.5, -0.1]), "f", "p_cnn_raw")


# ---------------------------------------------------------------- 8: seeds and shards


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "--recipe", "skeleton", "--n", "2", "--seed", "-1", "--out", "x"], "argument --seed: -1"),
    (["simulate", "--recipe", "skeleton", "--n", "2", "--shard", "-1", "--out", "x"], "argument --shard: -1"),
    (["experiment-subset", "--parent", "p.fits", "--n", "2", "--seed", "-1", "--name", "x", "--out-dir", "x"],
     "argument --seed: -1"),
])
def test_negative_seed_or_shard_is_a_usage_error(tmp_path, capsys, argv, needle):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{needle}: expected an integer >= 0" in err and "Traceback" not in err
