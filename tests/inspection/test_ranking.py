"""Grades and their merge with p_CNN (lensfinder merge-scores): scores, skill weights, agreement."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lensfinder.inspection import grades as human_grades
from lensfinder.inspection import ranking
from lensfinder.cli import main
from lensfinder.io import InputError, write_table


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _pred(tmp_path: Path, ids=("x", "y", "z"), p=(0.9, 0.99, 0.8)) -> Path:
    path = tmp_path / "pred.parquet"
    write_table(pd.DataFrame({"object_id": list(ids), "p_cnn": list(p)}), path)
    return path


LI_GRADES = """object_id,inspector,grade,time
x,ann,A,t
x,bob,B,t
x,cy,C,t
x,dee,D,t
x,eve,A,t
y,ann,A,t
y,bob,A,t
y,cy,a,t
y,dee,B,t
y,eve,A,t
z,ann,D,t
z,bob,D,t
z,cy,C,t
z,dee,D,t
z,eve,D,t
"""


def test_li2020_scores_match_hand_calculation(tmp_path):
    grades = human_grades.read_grades(_write(tmp_path / "g.csv", LI_GRADES), "li2020", valid_ids={"x", "y", "z"})
    pred = pd.read_parquet(_pred(tmp_path))
    ranked = ranking.merge_li2020(pred, grades).set_index("object_id")
    x = ranked.loc["x"]
    values = np.array([10, 7, 3, 0, 10])
    assert x["n_graders"] == 5
    assert x["score_mean"] == pytest.approx(6.0)
    assert x["score_rms"] == pytest.approx(math.sqrt(np.mean((values - 6.0) ** 2)))  # population std
    assert x["p_human"] == pytest.approx(0.6)
    assert x["P"] == pytest.approx(0.9 * 0.6)
    assert (x["n_zero"], x["n_top"], x["quality"]) == (1, 2, "high")
    y = ranked.loc["y"]
    assert y["score_mean"] == pytest.approx(9.4) and y["P"] == pytest.approx(0.99 * 0.94)
    assert y["quality"] == "golden"
    assert ranked.loc["z", "quality"] == "low" and ranked.loc["z", "n_zero"] == 4
    assert ranked.index.tolist() == ["y", "x", "z"]  # sorted by P
    assert ranked["rank"].tolist() == [1, 2, 3]
    # thresholds are configurable
    strict = ranking.merge_li2020(pred, grades, golden=0.97, high=0.95).set_index("object_id")
    assert strict.loc["y", "quality"] == "low"


def test_he2020_sums_and_final_list(tmp_path):
    text = "object_id,inspector,grade\n" + "".join(
        f"{oid},i{k},{g}\n" for oid, gs in (("x", "221000"), ("y", "111000"), ("z", "100000")) for k, g in
        enumerate(gs))
    grades = human_grades.read_grades(_write(tmp_path / "g.csv", text), "he2020", valid_ids={"x", "y", "z"})
    ranked = ranking.merge_he2020(pd.read_parquet(_pred(tmp_path)), grades).set_index("object_id")
    assert ranked["score_sum"].to_dict() == {"x": 5, "y": 3, "z": 1}
    assert ranked["final_list"].to_dict() == {"x": True, "y": False, "z": False}
    assert ranked["further_vote"].to_dict() == {"x": False, "y": True, "z": False}
    assert ranked.index.tolist() == ["x", "y", "z"]


def test_equal_scores_are_ordered_by_the_raw_scores(tmp_path):
    """Calibrated scores saturate at 1.0 (docs/learning.md): with equal grades and p_cnn, the objects the
    networks themselves scored higher come first, in both schemes; without p_cnn_raw, by object_id."""
    text = "object_id,inspector,grade\n" + "".join(f"{o},{i},{g}\n" for o in "abc" for i, g in zip("pq", "AA"))
    grades = human_grades.read_grades(_write(tmp_path / "g.csv", text), "li2020", valid_ids=set("abc"))
    pred = pd.DataFrame({"object_id": list("abc"), "p_cnn": [1.0, 1.0, 0.5],
                         "p_cnn_raw": [1 - 1e-13, 1 - 1e-15, 0.4]})
    assert ranking.merge_li2020(pred, grades)["object_id"].tolist() == ["b", "a", "c"]
    assert ranking.merge_li2020(pred.drop(columns="p_cnn_raw"), grades)["object_id"].tolist() == ["a", "b", "c"]
    he_text = "object_id,inspector,grade\n" + "".join(f"{o},{i},2\n" for o in "abc" for i in "pq")
    he_grades = human_grades.read_grades(_write(tmp_path / "h.csv", he_text), "he2020", valid_ids=set("abc"))
    assert ranking.merge_he2020(pred, he_grades)["object_id"].tolist() == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("object_id,inspector,grade\nx,ann,A\nx,bob,E\n", "line 3: grade 'E' is not in the li2020 scheme"),
        ("object_id,inspector,grade\nx,ann,A\nq,bob,B\n", "line 3: object_id 'q' is not in the predictions"),
        ("object_id,inspector,grade\nx,ann,A\ny,ann,B\nx,ann,C\n", "line 4: inspector 'ann' already graded 'x' on "
                                                                  "line 2"),
        ("", "line 1: empty file"),
        ("object_id,grade\nx,A\n", "line 1: missing column"),
        ("object_id,inspector,grade\nx,ann,UNDO\n", "line 2: UNDO"),
        ("object_id,inspector,grade\nx,,A\n", "line 2: empty object_id or inspector"),
    ],
)
def test_bad_grades_name_the_line(tmp_path, text, match):
    path = _write(tmp_path / "g.csv", text)
    with pytest.raises(InputError, match=match) as info:
        human_grades.read_grades(path, "li2020", valid_ids={"x", "y", "z"})
    assert str(path) in str(info.value)


def test_he2020_rejects_letters(tmp_path):
    with pytest.raises(InputError, match="line 2: grade 'A' is not in the he2020 scheme"):
        human_grades.read_grades(_write(tmp_path / "g.csv", "object_id,inspector,grade\nx,ann,A\n"), "he2020")


def test_duplicate_policy_latest_and_undo(tmp_path):
    text = "object_id,inspector,grade,time\nx,ann,A,t\ny,ann,B,t\nx,ann,C,t\ny,ann,UNDO,t\ny,ann,D,t\nz,bob,b,t\n"
    path = _write(tmp_path / "g.csv", text)
    grades = human_grades.read_grades(path, "li2020", duplicate_policy="latest")
    got = {(r.object_id, r.inspector): (r.grade, r.line) for r in grades.itertuples()}
    assert got == {("x", "ann"): ("C", 4), ("y", "ann"): ("D", 6), ("z", "bob"): ("B", 7)}
    # undo followed by a new grade is not a duplicate
    path2 = _write(tmp_path / "g2.csv", "object_id,inspector,grade\nx,ann,A\nx,ann,UNDO\nx,ann,B\n")
    assert human_grades.read_grades(path2, "li2020")["grade"].tolist() == ["B"]


def test_fleiss_kappa_textbook_example():
    # Fleiss (1971) example as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa = 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    cats = ["1", "2", "3", "4", "5"]
    rows = [(f"s{i}", f"r{k}", cats[j]) for i, counts in enumerate(table) for j, c in enumerate(counts)
            for k in range(c)]
    grades = pd.DataFrame(rows, columns=["object_id", "inspector", "grade"])
    kappa = human_grades.fleiss_kappa(grades, cats)
    assert kappa.iloc[0]["category"] == "all"
    assert kappa.iloc[0]["kappa"] == pytest.approx(0.210, abs=5e-4)
    assert kappa.iloc[0]["n_objects"] == 10 and kappa.iloc[0]["n_ratings"] == 140
    perfect = pd.DataFrame({"object_id": ["a", "a", "b", "b"], "inspector": ["p", "q", "p", "q"],
                            "grade": ["A", "A", "D", "D"]})
    assert human_grades.fleiss_kappa(perfect, list("ABCD")).iloc[0]["kappa"] == pytest.approx(1.0)


def test_skill_weighting_trusts_the_skilled_inspector():
    rng = np.random.default_rng(0)
    known = pd.DataFrame({"object_id": [f"k{i}" for i in range(40)], "is_lens": np.arange(40) % 2 == 0})
    rows = []
    for oid, lens in zip(known["object_id"], known["is_lens"]):
        rows.append((oid, "expert", "A" if lens else "D"))
        rows.append((oid, "guesser", rng.choice(list("ABCD"))))
    # candidate: expert says lens, guesser says not
    rows += [("cand1", "expert", "A"), ("cand1", "guesser", "D"), ("cand2", "expert", "D"), ("cand2", "guesser", "A")]
    grades = pd.DataFrame(rows, columns=["object_id", "inspector", "grade"])
    matrices, summary = human_grades.inspector_confusion(grades, known, "li2020")
    summary = summary.set_index("inspector")
    assert summary.loc["expert", "accuracy_known"] == 1.0
    assert summary.loc["expert", "skill_bits"] > 0.5 > summary.loc["guesser", "skill_bits"]
    post = human_grades.skill_posterior(grades[grades["object_id"].str.startswith("cand")], matrices)
    assert post["cand1"] > 0.9 and post["cand2"] < 0.1


def _cli_inputs(tmp_path):
    pred = tmp_path / "cand.parquet"
    write_table(pd.DataFrame({"object_id": ["KiDS_a", "KiDS b", "KiDS c"], "p_cnn": [0.99, 0.9, 0.8],
                              "samples": ["bg_li2020", "lrg_li2020", "lrg_li2020"], "ra": [1.0, 2.0, 3.0],
                              "dec": [-1.0, -2.0, -3.0]}), pred)
    known = tmp_path / "known.parquet"
    write_table(pd.DataFrame({"object_id": ["sim-1", "sim-2"], "is_lens": [True, False], "theta_E": 1.0,
                              "source": "s"}), known)
    cat = tmp_path / "cat.parquet"
    write_table(pd.DataFrame({"ID": ["KiDS_a", "KiDS b", "KiDS c", "other"], "RAJ2000": [1.5, 2.5, 3.5, 9.0],
                              "DECJ2000": [-1.5, -2.5, -3.5, 0.0], "MAG_AUTO": [19.1, 19.2, 19.3, 20.0],
                              "Z_B": [0.3, 0.4, 0.5, 0.6]}), cat)
    xm = tmp_path / "xm.parquet"
    write_table(pd.DataFrame({"object_id": ["KiDS_a", "KiDS b", "KiDS c"], "known_lens": [True, False, False],
                              "lenscat_name": ["J0001-0001", "", ""], "lenscat_grading": ["confident", "", ""],
                              "separation_arcsec": [0.4, np.nan, np.nan]}), xm)
    grades = _write(tmp_path / "grades.csv", "object_id,inspector,grade,time\n" + "".join(
        f"{o},{i},{g},2026-01-01T00:00:00+00:00\n" for o, gs in
        (("KiDS_a", "AAB"), ("KiDS b", "CDC"), ("sim-1", "AAB"), ("sim-2", "DDC")) for i, g in zip("pqr", gs)))
    return pred, known, cat, xm, grades


def test_merge_scores_cli(tmp_path, caplog):
    pred, known, cat, xm, grades = _cli_inputs(tmp_path)
    out = tmp_path / "ranked.parquet"
    argv = ["merge-scores", "--predictions", str(pred), "--grades", str(grades), "--scheme", "li2020",
            "--out", str(out), "--out-csv", str(tmp_path / "ranked.csv"), "--out-tex", str(tmp_path / "ranked.tex"),
            "--catalog", str(cat), "--crossmatch", str(xm), "--known", str(known)]
    with caplog.at_level("INFO"):
        assert main(argv) == 0
    ranked = pd.read_parquet(out)
    assert ranked.columns[:14].tolist() == ["rank", "name", "object_id", "sample", "p_cnn", "n_graders", "score_mean",
                                            "score_rms", "p_human", "P", "n_zero", "n_top", "quality", "p_lens_skill"]
    # without --survey the name is the catalogue id; the sample is labelled from the flags
    assert ranked["name"].tolist() == ranked["object_id"].tolist() and ranked["sample"].tolist() == ["BG", "LRG"]
    for col in ("ra", "dec", "r_auto_mag", "z_phot", "known_lens", "lenscat_name", "lenscat_grading",
                "separation_arcsec", "png", "samples"):
        assert col in ranked.columns
    # ungraded KiDS c is left out (logged); simulations are not ranked
    assert ranked["object_id"].tolist() == ["KiDS_a", "KiDS b"]
    assert "1 predicted objects have no grades" in caplog.text
    assert "Fleiss' kappa" in caplog.text
    a = ranked.iloc[0]
    assert a["ra"] == 1.5 and a["r_auto_mag"] == 19.1 and a["z_phot"] == 0.3  # catalogue wins
    assert bool(a["known_lens"]) and a["lenscat_name"] == "J0001-0001"
    assert a["p_lens_skill"] > 0.5 > ranked.iloc[1]["p_lens_skill"]
    csv = pd.read_csv(tmp_path / "ranked.csv")
    assert csv["object_id"].tolist() == ranked["object_id"].tolist()
    tex = (tmp_path / "ranked.tex").read_text()
    assert r"\begin{deluxetable*}" in tex and r"KiDS\_a" in tex and "KiDS b" not in tex  # only P >= 0.5 rows
    assert "No. zero scores" in tex
    insp = pd.read_csv(tmp_path / "ranked.inspectors.csv")
    assert insp["inspector"].tolist() == ["p", "q", "r"]
    assert (insp["n_known_lens"] == 1).all()
    agree = pd.read_csv(tmp_path / "ranked.agreement.csv")
    assert agree["category"].tolist() == ["all", "A", "B", "C", "D"]
    # --keep-ungraded keeps KiDS c at the end with NaN scores
    assert main(argv + ["--keep-ungraded", "--out", str(tmp_path / "all.parquet")]) == 0
    full = pd.read_parquet(tmp_path / "all.parquet")
    assert full["object_id"].tolist()[-1] == "KiDS c" and np.isnan(full["P"].iloc[-1])



def test_digest_counts_the_classes_and_shows_the_top_rows(tmp_path, capsys):
    pred, known, cat, xm, grades = _cli_inputs(tmp_path)
    out = tmp_path / "ranked.parquet"
    assert main(["merge-scores", "--predictions", str(pred), "--grades", str(grades), "--scheme", "li2020",
                 "--out", str(out), "--catalog", str(cat), "--crossmatch", str(xm), "--known", str(known),
                 "--keep-ungraded"]) == 0
    ranked = pd.read_parquet(out)
    counts = ranked["quality"].value_counts()
    assert main(["digest", str(out), "--top", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("3 candidates ranked: " + ", ".join(f"{counts[c]} {c}" for c in ("golden", "high", "low",
                        "ungraded") if c in counts) + "; 1 of them known lenses")
    assert len(lines) == 2 and lines[1].split()[:2] == ["1", "KiDS_a"]
    assert f"p_CNN {ranked['p_cnn'].iloc[0]:.10g}" in lines[1] and "mock survey" not in lines[1]
    assert main(["digest", str(tmp_path / "none.parquet")]) == 2
    assert "none.parquet: file not found" in capsys.readouterr().err


def test_digest_of_a_list_not_cross_matched_or_partly(tmp_path, capsys):
    # known_lens all NA (merge-scores without --crossmatch) raised "cannot convert float NaN to bool"
    pred, known, cat, xm, grades = _cli_inputs(tmp_path)
    out = tmp_path / "ranked.parquet"
    argv = ["merge-scores", "--predictions", str(pred), "--grades", str(grades), "--known", str(known),
            "--out", str(out)]
    assert main(argv) == 0
    assert pd.read_parquet(out)["known_lens"].isna().all()
    capsys.readouterr()
    assert main(["digest", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; not cross-matched")
    # a cross-match that lacks one of the ranked objects: counted as not known, and said
    write_table(pd.read_parquet(xm).iloc[[0]], tmp_path / "xm1.parquet")
    assert main(argv + ["--crossmatch", str(tmp_path / "xm1.parquet")]) == 0
    capsys.readouterr()
    assert main(["digest", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; 1 of them known lenses (1 not cross-matched)")
    ranked = pd.read_parquet(out).assign(known_lens=pd.array([False, None], dtype="boolean"))
    assert ranking.ranked_digest(ranked)[0].endswith("; 0 of them known lenses (1 not cross-matched)")


def test_merge_scores_cli_errors_and_empty(tmp_path, capsys):
    pred, known, cat, xm, grades = _cli_inputs(tmp_path)
    out = str(tmp_path / "r.parquet")
    # simulated ids are unknown without --known
    assert main(["merge-scores", "--predictions", str(pred), "--grades", str(grades), "--out", out]) == 2
    assert "line 8: object_id 'sim-1' is not in the predictions" in capsys.readouterr().err
    header_only = _write(tmp_path / "h.csv", "object_id,inspector,grade,time\n")
    assert main(["merge-scores", "--predictions", str(pred), "--grades", str(header_only), "--out", out]) == 2
    assert "no grades" in capsys.readouterr().err
    # a known object without its label would count as a lens in the inspectors' skill
    gappy = tmp_path / "gappy.parquet"
    write_table(pd.DataFrame({"object_id": ["sim-1", "sim-2"], "is_lens": [True, None]}), gappy)
    assert main(["merge-scores", "--predictions", str(pred), "--grades", str(grades), "--known", str(gappy),
                 "--out", out]) == 2
    assert "gappy.parquet: is_lens: None is not a boolean" in capsys.readouterr().err
    # an empty candidate set gives valid empty outputs
    empty = tmp_path / "empty.parquet"
    write_table(pd.DataFrame({"object_id": pd.Series([], dtype=str), "p_cnn": pd.Series([], dtype=float)}), empty)
    for scheme in ("li2020", "he2020"):
        argv = ["merge-scores", "--predictions", str(empty), "--grades", str(header_only), "--scheme", scheme,
                "--out", out, "--out-csv", str(tmp_path / "r.csv"), "--out-tex", str(tmp_path / "r.tex")]
        assert main(argv) == 0
        assert len(pd.read_parquet(out)) == 0
        assert "No candidates" in (tmp_path / "r.tex").read_text()
