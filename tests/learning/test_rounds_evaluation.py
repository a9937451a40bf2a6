"""The rounds table on a synthetic truth: R-precision, completeness at the per-sample thresholds,
false positives by object type, pieces of objects, and the graded objects each round trained on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.io import InputError, read_table, write_table
from lensfinder.learning.rounds import (
    ROUNDS_COLUMNS,
    evaluate_round,
    evaluate_rounds_files,
    evaluation_truth,
    rounds_table,
)

THRESHOLDS = {"lrg_li2020": 0.75, "bg_li2020": 0.98}
ARCSEC = 1 / 3600

#: id: (is_lens, object_type, lrg, bg); None: no truth row (PLACE: positions, 60" apart)
OBJECTS = {
    "L1": (True, "lens", True, False),
    "L2": (True, "lens", True, False),
    "L3": (True, "lens", False, True),
    "L4": (True, "lens", False, True),
    "R1": (False, "ring", True, False),
    "R2": (False, "ring", False, True),
    "M1": (False, "merger", True, True),
    "S1": (False, "spiral", False, True),
    "E1": (False, "elliptical", True, False),
    "X1": (None, None, True, False),   # a knot of ring R1, 2" from its centre
    "A1": (None, None, True, True),    # an arc of lens L1 detected on its own, 2.5" away
    "F1": (None, None, True, False),   # a detection far from everything
    "E2": (False, "elliptical", True, False),  # with a satellite: a companion
    "I1": (False, "irregular", False, True),
}
PLACE = {oid: (k * 60 * ARCSEC, 0.0) for k, oid in enumerate(OBJECTS)}
PLACE["X1"] = (PLACE["R1"][0] + 2 * ARCSEC, 0.0)
PLACE["A1"] = (PLACE["L1"][0], 2.5 * ARCSEC)


@pytest.fixture
def evaluation_set():
    index = pd.DataFrame({"object_id": list(OBJECTS), "lrg_li2020": [v[2] for v in OBJECTS.values()],
                          "bg_li2020": [v[3] for v in OBJECTS.values()], "tile": "MOCK_3",
                          "ra": [PLACE[k][0] for k in OBJECTS], "dec": [PLACE[k][1] for k in OBJECTS]})
    rows = [k for k, v in OBJECTS.items() if v[0] is not None]
    truth = pd.DataFrame({"ID": rows, "is_lens": [OBJECTS[k][0] for k in rows],
                          "object_type": [OBJECTS[k][1] for k in rows],
                          "ra": [PLACE[k][0] for k in rows], "dec": [PLACE[k][1] for k in rows],
                          "group_id": [100_001 if k == "E2" else -1 for k in rows]})
    # undetected objects have no ID: a faint galaxy near nothing stamped, and E2's satellite
    truth.loc[len(truth)] = [None, False, "faint", 1.0, 1.0, -1]
    truth.loc[len(truth)] = [None, False, "satellite", PLACE["E2"][0] + 1.5 * ARCSEC, 0.0, 100_001]
    return index, truth


def _scores(values):
    return pd.DataFrame({"object_id": list(values), "p_cnn": list(values.values())})


def test_pieces_take_their_parents_truth(evaluation_set):
    index, truth = evaluation_set
    table = evaluation_truth(index, truth)
    assert table.index.tolist() == list(OBJECTS)
    assert table.loc["X1", "object_type"] == "ring" and not table.loc["X1", "is_lens"]
    assert table.loc["A1", "lens_piece"] and not table.loc["A1", "is_lens"]
    assert table.loc["F1", "object_type"] == "" and not table.loc["F1", "lens_piece"]
    assert table["lens_piece"].sum() == 1 and table["is_lens"].sum() == 4
    assert table.loc["E2", "object_type"] == "companion" and table.loc["E1", "object_type"] == "elliptical"
    assert evaluation_truth(index, truth, radius_arcsec=1.0)["lens_piece"].sum() == 0
    with pytest.raises(InputError, match="stamp index: ra"):
        evaluation_truth(index.drop(columns="ra"), truth)


def test_one_round_by_hand(evaluation_set):
    index, truth = evaluation_set
    scores = _scores({"L1": 0.99, "L2": 0.70, "L3": 0.985, "L4": 0.90, "R1": 0.995, "R2": 0.99,
                      "M1": 0.8, "S1": 0.5, "E1": 0.76, "X1": 0.97, "A1": 0.999, "F1": 0.9, "E2": 0.8,
                      "I1": 0.99, "not_in_set": 1.0})
    row = evaluate_round(scores, index, evaluation_truth(index, truth), THRESHOLDS)
    # A1 (a piece of L1) is left out; top 4 by p: R1 0.995, then I1, L1, R2 at 0.99 (ties by id)
    assert row["n_lenses"] == 4 and row["n_objects"] == 13 and row["n_lens_pieces"] == 1
    assert row["r_precision"] == pytest.approx(1 / 4)
    # above threshold: L1 (LRG 0.99), L3 (BG 0.985); L2 LRG 0.70 < 0.75, L4 BG 0.90 < 0.98
    assert row["completeness"] == pytest.approx(2 / 4)
    # false positives: R1 (LRG), R2 (BG 0.99), M1 (LRG 0.8), E1 (LRG 0.76), X1 (a ring knot), F1 (LRG 0.9),
    # E2 (LRG 0.8, a companion), I1 (BG 0.99)
    assert row["n_false_positives"] == 8 and row["n_candidates"] == 10
    assert (row["fp_ring"], row["fp_merger"], row["fp_spiral"], row["fp_edge_on"], row["fp_companion"],
            row["fp_irregular"], row["fp_other"]) == (3, 1, 0, 0, 1, 1, 2)
    assert 0 < row["auroc"] < 1
    # a tie across the top-4 cut (I1, L1, L2 at 0.99 for two places) is broken by the raw scores where given
    tied = _scores({**{k: 0.1 for k in OBJECTS}, "R1": 0.999, "R2": 0.999, "I1": 0.99, "L1": 0.99, "L2": 0.99})
    resolved = evaluation_truth(index, truth)
    assert evaluate_round(tied, index, resolved, THRESHOLDS)["r_precision"] == pytest.approx(1 / 4)  # I1, L1
    raw = tied.assign(p_cnn_raw=tied["object_id"].map({"L2": 0.9999, "L1": 0.9995, "I1": 0.999}).fillna(0.5))
    assert evaluate_round(raw, index, resolved, THRESHOLDS)["r_precision"] == pytest.approx(2 / 4)  # L2, L1


def test_auroc_ranks_as_r_precision_does_with_ties_broken_by_the_raw_score():
    """Calibration rounds the most confident scores to 1.0; the raw scores still order them, for the
    AUROC as for R-precision (a raw-score AUROC, not one that takes the tie at 1.0 as a coin toss)."""
    ids = [f"o{i}" for i in range(6)]
    is_lens = np.array([False, True, True, False, True, False])
    scores = pd.DataFrame({"object_id": ids, "p_cnn": [1.0, 1.0, 1.0, 1.0, 0.5, 0.2],
                           "p_cnn_raw": [1 - 1e-10, 1 - 1e-12, 1 - 1e-11, 1 - 1e-9, 0.4, 0.1]})
    index = pd.DataFrame({"object_id": ids, "lrg_li2020": True})
    truth = pd.DataFrame({"is_lens": is_lens, "object_type": np.where(is_lens, "lens", "elliptical")},
                         index=pd.Index(ids, name="object_id"))
    row = evaluate_round(scores, index, truth, {"lrg_li2020": 0.75})
    assert row["r_precision"] == pytest.approx(2 / 3)  # o1, o2 (lenses), o0
    assert row["auroc"] == pytest.approx(7 / 9)  # the lenses o1, o2 above every non-lens, o4 above o5
    tied = evaluate_round(scores.drop(columns="p_cnn_raw"), index, truth, {"lrg_li2020": 0.75})
    assert tied["auroc"] == pytest.approx(5 / 9)  # without raw scores the four at 1.0 tie


def test_table_over_rounds_and_from_files(evaluation_set, tmp_path):
    index, truth = evaluation_set
    base = {k: 0.1 for k in OBJECTS}
    round_0 = _scores({**base, "R1": 0.999, "R2": 0.999, "L1": 0.99, "L3": 0.5})
    round_1 = _scores({**base, "L1": 0.99, "L2": 0.95, "L3": 0.99, "L4": 0.985})
    resolved = evaluation_truth(index, truth)
    table = rounds_table([round_0, round_1], index, resolved, THRESHOLDS, [0, 17])
    assert table.columns.tolist() == ROUNDS_COLUMNS
    assert table["round"].tolist() == [0, 1] and table["n_trained_on"].tolist() == [0, 17]
    assert table["r_precision"].tolist() == [pytest.approx(0.5), pytest.approx(1.0)]  # R1, R2, L1, L3
    assert table["completeness"].tolist() == [pytest.approx(0.25), pytest.approx(1.0)]
    assert table["fp_ring"].tolist() == [2, 0]
    write_table(table, tmp_path / "rounds.parquet")  # the thresholds travel with the table, for its figure
    assert read_table(tmp_path / "rounds.parquet").attrs["thresholds"] == {k: float(v) for k, v in THRESHOLDS.items()}
    with pytest.raises(InputError, match="evaluation set has no score"):
        evaluate_round(round_0.iloc[1:], index, resolved, THRESHOLDS)

    # the files: truth tables as the mock survey writes them, a fine-tuning set's table
    write_table(truth, tmp_path / "truth.parquet")
    write_table(index, tmp_path / "index.parquet")
    for k, scores in enumerate((round_0, round_1)):
        write_table(scores, tmp_path / f"r{k}.parquet")
    write_table(pd.DataFrame({"source_id": ["a", "a", "b", "c", "sim-1", "g"],
                              "source": ["graded_lens", "graded_lens", "graded_nonlens", "random_survey",
                                         "simulated", "graded_nonlens"]}), tmp_path / "set.parquet")
    out = tmp_path / "eval" / "rounds.parquet"
    written = evaluate_rounds_files([[tmp_path / "r0.parquet"], [tmp_path / "r1.parquet"]],
                                    [tmp_path / "index.parquet"], [tmp_path / "truth.parquet"],
                                    [tmp_path / "set.parquet"], THRESHOLDS, out)
    assert written["n_trained_on"].tolist() == [0, 3]
    np.testing.assert_allclose(pd.read_csv(out.with_suffix(".csv"))["r_precision"], table["r_precision"])
    with pytest.raises(InputError, match="--training-sets: 0 tables for 2 rounds"):
        evaluate_rounds_files([[tmp_path / "r0.parquet"], [tmp_path / "r1.parquet"]], [tmp_path / "index.parquet"],
                              [tmp_path / "truth.parquet"], [], THRESHOLDS, out)
    # a round whose scores miss an object: the message names the round and its files
    write_table(round_1.iloc[1:], tmp_path / "r1_short.parquet")
    with pytest.raises(InputError, match=r"round 1's scores: object_id .* has no score \(1 objects\) \(.*r1_short"):
        evaluate_rounds_files([[tmp_path / "r0.parquet"], [tmp_path / "r1_short.parquet"]],
                              [tmp_path / "index.parquet"], [tmp_path / "truth.parquet"], [tmp_path / "set.parquet"],
                              THRESHOLDS, out)


def test_figures_draw_from_the_tables(evaluation_set, tmp_path):
    from lensfinder.learning.calibration import calibrate_members
    from lensfinder.plots.learning import plot_reliability, plot_rounds

    index, truth = evaluation_set
    resolved = evaluation_truth(index, truth)
    base = {k: 0.1 for k in OBJECTS}
    table = rounds_table([_scores({**base, "R1": 0.999}), _scores({**base, "L1": 0.99})], index, resolved,
                         THRESHOLDS, [0, 5])
    out = plot_rounds(table, tmp_path / "rounds.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rng = np.random.default_rng(0)
    p = rng.random(400)
    labels = pd.DataFrame({"object_id": [f"s{k}" for k in range(400)], "is_lens": rng.random(400) < p})
    scores = {"net": pd.DataFrame({"object_id": labels["object_id"], "p_cnn": p ** 0.5})}
    _, summary, reliability = calibrate_members(scores, labels)
    out = plot_reliability([reliability, reliability], [summary, summary], tmp_path / "reliability.png")
    assert out.stat().st_size > 10_000
