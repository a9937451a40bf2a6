"""Inspection sets (lensfinder candidates) and simulated inspectors (lensfinder mock-grades)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from lensfinder.inspection import candidates as inspection
from lensfinder.inspection import mock_inspectors
from lensfinder.cli import main
from lensfinder.io import InputError, write_cube, write_table

N_PER_TILE = 5


def _make_inputs(tmp_path: Path, colour: bool = False) -> dict:
    """Two tiles of stamps, predictions and one simulated shard, all tiny."""
    rng = np.random.default_rng(3)
    paths = {"pred": [], "index": [], "cube": [], "g": [], "i": []}
    # per tile: p_cnn, bg flag, lrg flag
    p = [0.99, 0.985, 0.8, 0.7, 0.5]
    bg = [True, True, True, True, False]
    lrg = [True, False, True, True, False]
    for t in range(2):
        ids = [f"KiDSDR4 J00{t}{k}00.000-28000{k}.0" for k in range(N_PER_TILE)]
        index = pd.DataFrame({
            "object_id": ids, "tile": f"tile{t}", "ra": 10.0 + t + 0.01 * np.arange(N_PER_TILE),
            "dec": np.full(N_PER_TILE, -28.0), "bg_li2020": bg, "lrg_li2020": lrg,
        })
        pred = pd.DataFrame({"object_id": ids, "p_cnn": p, "model": "he2020", "shard": t})
        for name, df in (("index", index), ("pred", pred)):
            path = tmp_path / f"{name}{t}.parquet"
            write_table(df, path)
            paths[name].append(str(path))
        for band in ("cube", "g", "i") if colour else ("cube",):
            images = rng.normal(0, 1, (N_PER_TILE, 21, 21)).astype("f4")
            images[:, 8:13, 8:13] += {"cube": 50, "g": 20, "i": 80}[band]
            path = tmp_path / f"{band}{t}.fits"
            write_cube(images, path, 0.2, 30.0)
            paths[band].append(str(path))
    meta = pd.DataFrame({"object_id": [f"train-7-0-{k}" for k in range(8)], "is_lens": np.arange(8) % 2 == 0,
                         "theta_E": np.linspace(0.5, 2.0, 8)})
    write_table(meta, tmp_path / "sim.parquet")
    write_cube(rng.normal(0, 1, (8, 21, 21)), tmp_path / "sim.fits", 0.2, 30.0)
    paths["sim"] = [str(tmp_path / "sim.fits"), str(tmp_path / "sim.parquet")]
    return paths


def _run(paths: dict, out: Path, *extra: str) -> int:
    argv = ["candidates", "--predictions", *paths["pred"], "--stamp-index", *paths["index"],
            "--stamp-cube", *paths["cube"], "--threshold", "bg_li2020=0.98", "--threshold", "lrg_li2020=0.75",
            "--out-dir", str(out), *extra]
    return main(argv)


def test_parse_thresholds():
    assert inspection.parse_thresholds(["bg_li2020=0.98", "lrg_li2020=0.75"]) == {"bg_li2020": 0.98,
                                                                                  "lrg_li2020": 0.75}
    assert inspection.parse_thresholds(None, "li2020") == {"lrg_li2020": 0.75, "bg_li2020": 0.98}
    assert inspection.parse_thresholds(None, "he2020") == {"lrg_li2020": 0.999999}
    for bad in (["bg_li2020"], ["bg_li2020=x"], ["=0.5"], ["bg_li2020=1.5"]):
        with pytest.raises(InputError, match="SAMPLE=VALUE"):
            inspection.parse_thresholds(bad)


def test_select_candidates_per_sample_thresholds():
    pred = pd.DataFrame({"object_id": ["a", "b", "c", "d", "e"], "p_cnn": [0.99, 0.8, 0.9, 0.985, 0.1]})
    index = pd.DataFrame({"object_id": ["a", "b", "c", "d", "e"],
                          "bg_li2020": [True, False, True, True, True],
                          "lrg_li2020": [True, True, False, False, True]})
    cand = inspection.select_candidates(pred, index, {"bg_li2020": 0.98, "lrg_li2020": 0.75})
    # c: BG only with 0.9 < 0.98 -> not a candidate; b: LRG with 0.8 >= 0.75
    assert cand["object_id"].tolist() == ["a", "d", "b"]
    assert cand.set_index("object_id")["samples"].to_dict() == {"a": "bg_li2020;lrg_li2020", "d": "bg_li2020",
                                                                "b": "lrg_li2020"}
    # calibrated scores that tie at 1.0 are ordered by the raw scores, where the table has them
    tied = pred.assign(p_cnn=[1.0, 0.8, 0.9, 1.0, 0.1], p_cnn_raw=[1 - 1e-12, 0.7, 0.8, 1 - 1e-14, 0.1])
    assert inspection.select_candidates(tied, index, {"bg_li2020": 0.98})["object_id"].tolist() == ["d", "a"]
    assert inspection.select_candidates(tied.drop(columns="p_cnn_raw"), index,
                                        {"bg_li2020": 0.98})["object_id"].tolist() == ["a", "d"]
    forced = inspection.select_candidates(pred, index, {"bg_li2020": 0.98, "lrg_li2020": 0.75},
                                          include=["e"], exclude=["a"])
    assert set(forced["object_id"]) == {"b", "d", "e"}
    assert forced.set_index("object_id").loc["e", "samples"] == "include"


def test_candidates_cli_outputs(tmp_path):
    paths = _make_inputs(tmp_path)
    out = tmp_path / "inspect"
    assert _run(paths, out) == 0
    cand = pd.read_parquet(out / "candidates.parquet")
    # per tile: 0.99 (bg+lrg), 0.985 (bg), 0.8 (lrg) pass; 0.7 and 0.5 do not
    assert len(cand) == 6
    assert list(cand.columns[:9]) == ["object_id", "p_cnn", "samples", "tile", "ra", "dec", "stamp_cube",
                                      "cube_row", "model"]
    assert (np.diff(cand["p_cnn"]) <= 0).all()
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest.columns) == inspection.MANIFEST_COLUMNS
    assert manifest["object_id"].tolist() == cand["object_id"].tolist()
    assert (manifest["display_name"] == manifest["object_id"]).all()
    csv = pd.read_csv(out / "manifest.csv")
    assert csv["object_id"].tolist() == manifest["object_id"].tolist()
    for png in manifest["png"]:
        assert png.startswith("png/") and " " not in png
        img = mpimg.imread(out / png)
        assert img.shape[0] == 42 and img.std() > 0  # 21 px upscaled x2, not blank
    assert (out / "mosaic.png").stat().st_size > 0
    assert len(pd.read_parquet(out / "known.parquet")) == 0
    assert not list(out.rglob("*.part"))  # atomic writes leave nothing behind


def test_candidates_colour_png(tmp_path):
    paths = _make_inputs(tmp_path, colour=True)
    out = tmp_path / "inspect"
    assert _run(paths, out, "--stamp-cube-g", *paths["g"], "--stamp-cube-i", *paths["i"]) == 0
    png = pd.read_parquet(out / "manifest.parquet")["png"].iloc[0]
    img = mpimg.imread(out / png)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    centre = img[img.shape[0] // 2, img.shape[1] // 2, :3]
    assert centre[0] > centre[2]  # i band (red) brightest in the centre


def test_candidates_mix_simulated_blinded_and_seeded(tmp_path):
    paths = _make_inputs(tmp_path)
    runs = {}
    for name, seed in (("a", "42"), ("b", "42"), ("c", "7")):
        out = tmp_path / name
        assert _run(paths, out, "--mix-simulated", *paths["sim"], "--n-mix", "4", "--seed", seed) == 0
        runs[name] = (pd.read_parquet(out / "manifest.parquet"), pd.read_parquet(out / "known.parquet"))
    manifest, known = runs["a"]
    assert len(manifest) == 6 + 4
    assert len(known) == 4 and known["is_lens"].sum() == 2
    assert set(known["object_id"]) <= set(manifest["object_id"])
    # blinded: names and file names say nothing about what an object is
    assert manifest["display_name"].tolist() == [f"obj-{k:04d}" for k in range(1, 11)]
    assert not manifest["png"].str.contains("train|KiDS").any()
    pd.testing.assert_frame_equal(manifest, runs["b"][0])
    assert manifest["object_id"].tolist() != runs["c"][0]["object_id"].tolist()


def test_candidates_empty_set(tmp_path):
    paths = _make_inputs(tmp_path)
    out = tmp_path / "inspect"
    argv = ["candidates", "--predictions", *paths["pred"], "--stamp-index", *paths["index"],
            "--stamp-cube", *paths["cube"], "--threshold", "bg_li2020=1.0", "--out-dir", str(out)]
    # p_cnn never reaches 1.0 here
    assert main(argv) == 0
    for name in ("candidates.parquet", "manifest.parquet", "known.parquet"):
        df = pd.read_parquet(out / name)
        assert len(df) == 0
    assert list(pd.read_parquet(out / "manifest.parquet").columns) == inspection.MANIFEST_COLUMNS
    assert pd.read_csv(out / "manifest.csv").columns.tolist() == inspection.MANIFEST_COLUMNS
    assert (out / "mosaic.png").exists()
    # downstream: mock grades of an empty set is a header-only CSV
    truth = tmp_path / "truth.parquet"
    write_table(pd.DataFrame({"ID": ["x"], "is_lens": [True], "theta_E": [1.0]}), truth)
    assert main(["mock-grades", "--manifest", str(out / "manifest.parquet"), "--truth", str(truth),
                 "--out", str(out / "grades.csv")]) == 0
    assert (out / "grades.csv").read_text().strip() == "object_id,inspector,grade,time"


def test_candidates_bad_inputs(tmp_path, capsys):
    paths = _make_inputs(tmp_path)
    out = tmp_path / "inspect"
    argv = ["candidates", "--predictions", *paths["pred"], "--stamp-index", *paths["index"],
            "--stamp-cube", paths["cube"][0], "--out-dir", str(out)]
    assert main(argv) == 2
    assert "one cube per index" in capsys.readouterr().err
    assert _run(paths, out, "--threshold", "nosuch_sample=0.5") == 2
    assert "nosuch_sample" in capsys.readouterr().err
    dup = ["candidates", "--predictions", paths["pred"][0], paths["pred"][0], "--stamp-index", *paths["index"],
           "--stamp-cube", *paths["cube"], "--out-dir", str(out)]
    assert main(dup) == 2
    assert "scored more than once" in capsys.readouterr().err


def test_skipped_stamps_are_left_out_and_bad_scores_refused(caplog):
    """inference writes p_cnn NaN for a stamp it skips (too many pixels without data): the candidates step
    leaves those out with a warning, as evaluate does; an infinite or text score is refused."""
    good = pd.DataFrame({"object_id": ["a", "b", "c"], "p_cnn": [0.9, np.nan, 0.2]})
    with caplog.at_level("WARNING"):
        pred = inspection.concat_predictions([("t1.parquet", good)])
    assert pred["object_id"].tolist() == ["a", "c"]
    assert "1 objects with p_cnn NaN" in caplog.text and "'b'" in caplog.text
    for bad, shown in ((np.inf, "inf"), ("high", "'high'")):
        table = good.astype({"p_cnn": object}).assign(p_cnn=[0.9, bad, 0.2])
        with pytest.raises(InputError, match=rf"t2.parquet: p_cnn: {shown} for object_id 'b'"):
            inspection.concat_predictions([("t2.parquet", table)])


def test_safe_name():
    assert inspection.safe_name("KiDSDR4 J002018.968-284111.45") == "KiDSDR4_J002018.968-284111.45"
    assert inspection.safe_name("../../etc/passwd") == "etc_passwd"
    a, b = inspection.unique_names(["a b", "a/b"])
    assert a != b


def test_mock_inspector_grades_follow_truth():
    n = 200
    is_lens = np.arange(n) % 2 == 0
    theta = np.where(is_lens, 1.5, 0.0)
    ids = [f"o{k}" for k in range(n)]
    grades = mock_inspectors.mock_inspector_grades(ids, is_lens, theta, "li2020", n_inspectors=5, seed=1)
    again = mock_inspectors.mock_inspector_grades(ids, is_lens, theta, "li2020", n_inspectors=5, seed=1)
    pd.testing.assert_frame_equal(grades, again)
    assert list(grades.columns) == ["object_id", "inspector", "grade", "time"]
    assert len(grades) == 5 * n
    assert grades["inspector"].str.startswith("simulated-").all()
    score = grades["grade"].map({"A": 10, "B": 7, "C": 3, "D": 0})
    lens = grades["object_id"].map(dict(zip(ids, is_lens)))
    assert score[lens].mean() > 7 > 2 > score[~lens].mean()
    # inspectors differ in skill: not all agree on everything
    assert grades.groupby("object_id")["grade"].nunique().max() > 1
    # rings, mergers and spirals fool people more often than plain galaxies
    types = np.where(np.arange(n) % 4 == 1, "ring", "elliptical")
    typed = mock_inspectors.mock_inspector_grades(ids, is_lens, theta, "li2020", n_inspectors=5, seed=1,
                                                  object_type=types)
    typed_score = typed["grade"].map({"A": 10, "B": 7, "C": 3, "D": 0})
    ring = typed["object_id"].map(dict(zip(ids, types))) == "ring"
    assert typed_score[ring].mean() > typed_score[~ring & ~lens].mean() + 0.5
    he = mock_inspectors.mock_inspector_grades(ids, is_lens, theta, "he2020", n_inspectors=6, seed=1)
    assert set(he["grade"]) <= {"0", "1", "2"} and he["inspector"].nunique() == 6


def test_mock_grades_cli(tmp_path, caplog):
    paths = _make_inputs(tmp_path)
    out = tmp_path / "inspect"
    assert _run(paths, out, "--mix-simulated", *paths["sim"], "--n-mix", "4") == 0
    manifest = pd.read_parquet(out / "manifest.parquet")
    survey_ids = [o for o in manifest["object_id"] if o.startswith("KiDS")]
    truth = tmp_path / "truth.parquet"
    write_table(pd.DataFrame({"ID": survey_ids[:-1], "is_lens": True, "theta_E": 1.0}), truth)
    grades_csv = out / "grades.csv"
    argv = ["mock-grades", "--manifest", str(out / "manifest.parquet"), "--truth", str(truth),
            str(out / "known.parquet"), "--scheme", "li2020", "--n-inspectors", "3", "--seed", "5",
            "--out", str(grades_csv)]
    with caplog.at_level("WARNING"):
        assert main(argv) == 0
    assert "no truth row" in caplog.text  # one survey id left out of the truth on purpose
    grades = pd.read_csv(grades_csv)
    assert len(grades) == 3 * len(manifest)
    assert set(grades["object_id"]) == set(manifest["object_id"])
    first = grades_csv.read_bytes()
    assert main(argv) == 0
    assert grades_csv.read_bytes() == first


def test_pieces_of_a_lens_are_graded_as_that_lens(tmp_path):
    """A lensed arc the catalogue detects on its own has no truth row: with --positions the simulated
    inspectors grade it as the lens it belongs to (a person sees the lens in its stamp), a ring's knot as
    a ring; without it, or far from every object, it is a plain non-lens. Before, round 1 trained on
    pieces of genuine lenses as hard negatives."""
    arcsec = 1 / 3600
    truth = pd.DataFrame({"ID": ["L1", "R1", None], "is_lens": [True, False, False], "theta_E": [2.5, np.nan, np.nan],
                          "object_type": ["lens", "ring", "faint"], "ra": [10.0, 10.1, 10.2],
                          "dec": [-28.0, -28.0, -28.0]})
    positions = pd.DataFrame({"object_id": ["L1", "P1", "K1", "F1"],
                              "ra": [10.0, 10.0 + 1.5 * arcsec, 10.1, 10.3],
                              "dec": [-28.0, -28.0, -28.0 + 2 * arcsec, -28.0]})
    for name, table in (("truth", truth), ("manifest", positions[["object_id"]]), ("positions", positions)):
        write_table(table, tmp_path / f"{name}.parquet")
    resolved = mock_inspectors.truth_of_pieces(mock_inspectors.read_truth([tmp_path / "truth.parquet"]),
                                               positions, truth)
    assert resolved.loc["P1", "is_lens"] and resolved.loc["P1", "theta_E"] == 2.5
    assert not resolved.loc["K1", "is_lens"] and resolved.loc["K1", "object_type"] == "ring"
    assert not resolved.loc["F1", "is_lens"] and resolved.loc["F1", "object_type"] == ""
    means = {}
    for with_positions in (False, True):
        out = tmp_path / f"grades_{with_positions}.csv"
        argv = ["mock-grades", "--manifest", str(tmp_path / "manifest.parquet"),
                "--truth", str(tmp_path / "truth.parquet"), "--n-inspectors", "40", "--seed", "3", "--out", str(out)]
        assert main(argv + (["--positions", str(tmp_path / "positions.parquet")] if with_positions else [])) == 0
        grades = pd.read_csv(out)
        means[with_positions] = grades["grade"].map({"A": 10, "B": 7, "C": 3, "D": 0}).groupby(
            grades["object_id"]).mean()
    assert means[True]["P1"] >= 7 > 3 > means[False]["P1"]
    assert abs(means[True]["P1"] - means[True]["L1"]) < 1.5
    assert means[True]["K1"] > means[True]["F1"] + 0.5 and means[True]["F1"] < 3


def test_a_set_rewritten_and_interrupted_has_no_manifest_and_a_bad_input_keeps_the_old_set(tmp_path, monkeypatch):
    """Rewriting a set removes its manifest before the first new file and writes the new one last: a run
    killed midway leaves a set the grading page refuses, never the old manifest beside the new PNGs; a run
    refused for its input writes nothing, so the old set stays whole."""
    from lensfinder.inspection.inspection_set import read_inspection_set
    from lensfinder.plots import stamps

    paths = _make_inputs(tmp_path)
    out = tmp_path / "set"
    assert _run(paths, out, "--mix-simulated", *paths["sim"], "--n-mix", "4", "--seed", "1") == 0
    old = pd.read_parquet(out / "manifest.parquet")
    # refused input (a simulated stamp of another size): found before anything is written
    write_cube(np.zeros((8, 25, 25), "f4"), tmp_path / "big.fits", 0.2, 30.0)
    assert _run(paths, out, "--mix-simulated", str(tmp_path / "big.fits"), paths["sim"][1], "--n-mix", "4",
                "--seed", "2") == 2
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), old)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies while the set is half rewritten

    monkeypatch.setattr(stamps, "write_mosaic", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(paths, out, "--mix-simulated", *paths["sim"], "--n-mix", "4", "--seed", "2")
    assert not (out / "manifest.parquet").exists() and not (out / "manifest.csv").exists()
    with pytest.raises(InputError, match="no manifest"):
        read_inspection_set(out)
    monkeypatch.undo()
    assert _run(paths, out, "--mix-simulated", *paths["sim"], "--n-mix", "4", "--seed", "2") == 0
    new = pd.read_parquet(out / "manifest.parquet")
    assert len(new) == len(old) and new["object_id"].tolist() != old["object_id"].tolist()
