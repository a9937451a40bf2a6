"""Cross-matching candidates with known lenses (lensfinder crossmatch)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest

from lensfinder.inspection import crossmatch
from lensfinder.cli import main
from lensfinder.io import InputError, write_table

needs_lenscat = pytest.mark.skipif(importlib.util.find_spec("lenscat") is None, reason="lenscat not installed")


def _offset(ra, dec, arcsec):
    """A position ``arcsec`` north of (ra, dec)."""
    return ra, dec + arcsec / 3600.0


@needs_lenscat
def test_lenscat_loads_offline_without_importing_it():
    before = "lenscat" in sys.modules
    ref = crossmatch.load_lenscat()
    assert len(ref) > 1000
    assert list(ref.columns) == crossmatch.REFERENCE_COLUMNS
    assert set(ref["grading"]) <= {"confident", "probable"}
    assert np.isfinite(ref["ra"]).all() and np.isfinite(ref["dec"]).all()
    assert ("lenscat" in sys.modules) == before  # its heavy __init__ was not run


@needs_lenscat
def test_match_a_lenscat_lens(tmp_path):
    ref = crossmatch.load_lenscat()
    known = ref.iloc[0]
    ra1, dec1 = _offset(known["ra"], known["dec"], 1.0)
    cands = pd.DataFrame({"object_id": ["near", "far"], "ra": [ra1, (known["ra"] + 180.0) % 360.0],
                          "dec": [dec1, -known["dec"]]})
    path = tmp_path / "cand.parquet"
    write_table(cands, path)
    out = tmp_path / "xm.parquet"
    assert main(["crossmatch", "--candidates", str(path), "--radius-arcsec", "2", "--out", str(out),
                 "--out-csv", str(tmp_path / "xm.csv")]) == 0
    result = pd.read_parquet(out)
    assert list(result.columns) == crossmatch.OUTPUT_COLUMNS
    near, far = result.iloc[0], result.iloc[1]
    assert near["known_lens"] and near["lenscat_name"] == known["name"]
    assert near["lenscat_grading"] == known["grading"]
    assert near["separation_arcsec"] == pytest.approx(1.0, abs=1e-3)
    assert not far["known_lens"] and far["lenscat_name"] == "" and np.isnan(far["separation_arcsec"])
    assert pd.read_csv(tmp_path / "xm.csv")["object_id"].tolist() == ["near", "far"]
    # a radius smaller than the offset finds nothing
    tight = crossmatch.crossmatch_candidates(cands, ref, radius_arcsec=0.5)
    assert not tight["known_lens"].any()


def test_user_table_only(tmp_path):
    known = tmp_path / "known.csv"
    known.write_text("Name,RA [deg],DEC [deg],grading\nmine-1,150.0,2.0,A\nmine-2,10.0,-30.0,B\n")
    cands = pd.DataFrame({"object_id": ["c1", "c2"], "ra": [150.0, 11.0], "dec": [2.0 + 1.5 / 3600, -30.0]})
    path = tmp_path / "cand.parquet"
    write_table(cands, path)
    out = tmp_path / "xm.parquet"
    assert main(["crossmatch", "--candidates", str(path), "--out", str(out), "--known", str(known),
                 "--no-lenscat"]) == 0
    result = pd.read_parquet(out)
    assert result["known_lens"].tolist() == [True, False]
    assert result["lenscat_name"].tolist() == ["mine-1", ""]
    assert result["lenscat_grading"].tolist() == ["A", ""]


def test_empty_and_bad_candidates(tmp_path, capsys):
    ref = pd.DataFrame({"name": ["r"], "ra": [1.0], "dec": [1.0], "grading": ["confident"]})
    empty = pd.DataFrame({"object_id": pd.Series([], dtype=str), "ra": pd.Series([], dtype=float),
                          "dec": pd.Series([], dtype=float)})
    result = crossmatch.crossmatch_candidates(empty, ref)
    assert len(result) == 0 and list(result.columns) == crossmatch.OUTPUT_COLUMNS
    with pytest.raises(InputError, match="row 1: ra/dec"):
        crossmatch.crossmatch_candidates(pd.DataFrame({"object_id": ["a", "b"], "ra": [1.0, 2.0],
                                                       "dec": [0.0, 95.0]}), ref)
    with pytest.raises(InputError, match="radius"):
        crossmatch.crossmatch_candidates(empty, ref, radius_arcsec=0)
    path = tmp_path / "nopos.parquet"
    write_table(pd.DataFrame({"object_id": ["a"]}), path)
    assert main(["crossmatch", "--candidates", str(path), "--out", str(tmp_path / "x.parquet"), "--no-lenscat",
                 "--known", str(path)]) == 2
    assert "missing column(s) ra, dec" in capsys.readouterr().err


def test_a_reference_table_with_two_names_for_a_column_reads_the_first(tmp_path, capsys):
    # VizieR-style tables often carry both a name and an id, or ra and RAJ2000
    ref = pd.DataFrame({"id": [7, 8], "Name": ["mine-1", "mine-2"], "RAJ2000": [0.0, 0.0], "ra": [150.0, 10.0],
                        "dec": [2.0, -30.0], "DECJ2000": [0.0, 0.0]})
    table = crossmatch._standardize(ref, "known.csv")
    assert table["name"].tolist() == ["mine-1", "mine-2"] and table["ra"].tolist() == [150.0, 10.0]
    assert table["dec"].tolist() == [2.0, -30.0]
    with pytest.raises(InputError, match=r"known.csv: .* no column 'dec' \(or 'decj2000'.*its columns: id, ra"):
        crossmatch._standardize(pd.DataFrame({"id": [1], "ra": [1.0]}), "known.csv")
