"""Inputs of `lensfinder experiment-table` and `experiment-subset` that are refused with one `error:` line (exit 2)
instead of a traceback, and what the tables make of labels and thresholds."""

from __future__ import annotations

import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.experiments import tables
from lensfinder.io import InputError, write_table


def _psf_metrics(tmp_path, factors=(0.5, 1, 2)):
    paths = []
    for k, factor in enumerate(factors):
        path = tmp_path / f"psf_{k}.parquet"
        write_table(pd.DataFrame({"threshold": [0.5, 0.8], "accuracy": [0.9, 0.8], "completeness": [0.85, 0.7]}), path)
        paths.append(str(path))
    return paths


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("argv, message", [
    (["--kind", "entropy"], "error: --entropy: no tables; kind entropy reads the tables `lensfinder entropy` writes"),
    (["--kind", "li2020_roc"], "error: --predictions: no tables; kind li2020_roc reads"),
], ids=["entropy", "li2020_roc"])
def test_table_kinds_without_their_inputs(tmp_path, capsys, argv, message):
    assert main(["experiment-table", *argv, "--out", str(tmp_path / "t.parquet")]) == 2
    assert message in _error_line(capsys)


def test_psf_labels_that_are_not_numbers_or_come_twice(tmp_path, capsys):
    paths = _psf_metrics(tmp_path)
    out = str(tmp_path / "psf.parquet")
    assert main(["experiment-table", "--kind", "psf_test", "--metrics", *paths,
                 "--labels", "psf_factor=0.5", "psf_factor=one", "psf_factor=2", "--out", out]) == 2
    assert _error_line(capsys).endswith("error: psf metrics: psf_factor 'one': expected a number "
                                        "(--labels psf_factor=NUMBER)")
    # two files labelled as the reference set: pandas' InvalidIndexError before
    assert main(["experiment-table", "--kind", "psf_test", "--metrics", *paths,
                 "--labels", "psf_factor=0.5", "psf_factor=1", "psf_factor=1", "--out", out]) == 2
    assert _error_line(capsys).endswith("error: psf metrics: 2 rows at threshold 0.5 labelled psf_factor=1 (the same "
                                        "label on several --metrics files); expected one file per label")
    assert main(["experiment-table", "--kind", "psf_test", "--metrics", *paths,
                 "--labels", "psf_factor=0.5", "psf_factor=1", "psf_factor=2", "--out", out]) == 0


def test_psf_table_normalises_to_the_1x_set_alone():
    """1.00001 is a set of its own, not a second reference (np.isclose's default tolerance took both)."""
    rows = [{"psf_factor": f, "threshold": 0.5, "accuracy": a, "completeness": a}
            for f, a in ((0.5, 0.45), (1.0, 0.9), (1.00001, 0.6))]
    table = tables.psf_table(pd.DataFrame(rows)).set_index("psf_factor")
    assert table.loc[1.00001, "accuracy_norm"] == pytest.approx(0.6 / 0.9)
    assert table.loc[0.5, "accuracy_norm"] == pytest.approx(0.5)


def _volume_rows(fractions=(0.2, 0.5), thresholds=(0.5, 0.8)):
    return [{"case": "case0", "fraction": f, "repeat": r, "validation": v, "threshold": t, "accuracy": 0.9,
             "completeness": 0.8} for f in fractions for r in range(2) for v in (1, 2) for t in thresholds]


def test_volume_runs_labelled_twice_are_refused_not_counted_twice():
    """fractions [0.2, 0.2, 0.5] passed every 0.2 run twice: n_runs 8 instead of 4."""
    metrics = pd.DataFrame(_volume_rows((0.2, 0.2, 0.5)))
    message = (r"volume metrics: 2 rows at threshold 0\.5 labelled case=case0,fraction=0\.2,repeat=0,validation=1 "
               r"\(the same label on several --metrics files\); expected one file per label")
    for build in (tables.volume_points, tables.volume_table5):
        with pytest.raises(InputError, match=message):
            build(metrics, 0.8)
    assert (tables.volume_points(pd.DataFrame(_volume_rows()), 0.8)["n_runs"] == 4).all()


@pytest.mark.parametrize("kind", ["volume_points", "volume_table5", "volume_valsize"])
def test_volume_labels_that_are_not_numbers(tmp_path, capsys, kind):
    path = tmp_path / "m.parquet"
    write_table(pd.DataFrame({"threshold": [0.5, 0.8], "accuracy": [0.9, 0.8], "completeness": [0.85, 0.7]}), path)
    labels = [f"case=case0,fraction={f},repeat=0,validation=1,validation_size=200" for f in ("x", "0.5")]
    assert main(["experiment-table", "--kind", kind, "--metrics", str(path), str(path), "--labels", *labels,
                 "--threshold", "0.8", "--parent-size", "3000", "--out", str(tmp_path / "t.parquet")]) == 2
    assert _error_line(capsys).endswith("metrics: fraction 'x': expected a number (--labels fraction=NUMBER)")


def test_valsize_table_keeps_the_thresholds_asked_for(tmp_path):
    """validation_sizes.thresholds [0.5, 0.9] beside volume_test.threshold 0.8 in the same metrics files: the
    Fig. 13 table had a 0.8 row its caption does not mention."""
    rows = [{"validation_size": 200, "fraction": 0.2, "repeat": r, "threshold": t, "accuracy": 0.9,
             "completeness": 0.8} for r in range(2) for t in (0.5, 0.8, 0.9)]
    metrics = pd.DataFrame(rows)
    assert sorted(tables.volume_valsize(metrics, [0.5, 0.9])["threshold"]) == [0.5, 0.9]
    assert sorted(tables.volume_valsize(metrics)["threshold"]) == [0.5, 0.8, 0.9]  # none given: all
    with pytest.raises(InputError, match=r"validation-size metrics: no rows at threshold 0\.95"):
        tables.volume_valsize(metrics, [0.5, 0.95])
    paths, labels = [], []
    for r in range(2):
        path = tmp_path / f"v{r}.parquet"
        write_table(metrics[metrics["repeat"] == r].drop(columns=["validation_size", "fraction", "repeat"]), path)
        paths.append(str(path))
        labels.append(f"validation_size=200,fraction=0.2,repeat={r}")
    out = tmp_path / "valsize.parquet"
    assert main(["experiment-table", "--kind", "volume_valsize", "--metrics", *paths, "--labels", *labels,
                 "--thresholds", "0.5", "0.9", "--out", str(out)]) == 0
    assert pd.read_csv(tmp_path / "valsize.csv")["threshold"].tolist() == [0.5, 0.9]


@pytest.mark.parametrize("option, value, message", [
    ("--n-shards", "0", "error: --n-shards: 0: expected at least 1 output shard"),
    ("--n", "-4", "error: --n: -4: expected at least 1 image (half of them lenses)"),
], ids=["n_shards_0", "n_negative"])
def test_subset_sizes_out_of_bounds(tmp_path, capsys, option, value, message):
    argv = {"--parent": str(tmp_path / "parent"), "--n": "10", "--seed": "1", "--out-dir": str(tmp_path / "out")}
    argv[option] = value
    assert main(["experiment-subset", *(x for kv in argv.items() for x in kv)]) == 2
    assert _error_line(capsys).endswith(message)
