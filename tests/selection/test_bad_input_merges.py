"""Bad input to the selection merges and stamps: one error line naming the file, the column or option and
what was expected, exit status 2, nothing written (merge-preselection's counts, stamps' and
download-legacy-field's PSF FWHM, merge-catalog's repeated parts and IDs)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if "error:" in x]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------- merge-preselection


def _cutflow(n_remaining) -> pd.DataFrame:
    return pd.DataFrame({"sample": ["bg_li2020", "bg_li2020"], "step": [0, 1], "cut": ["all", "sg2dphot_galaxy"],
                         "n_remaining": n_remaining})


@pytest.mark.parametrize("bad", [[np.nan, 1.0], [1.0, 2.5], [1, -3], ["1", "x"], [None, 1]],
                         ids=["nan", "fraction", "negative", "text", "null"])
@pytest.mark.parametrize("which", [0, 1])
def test_merge_preselection_refuses_counts_that_are_not_counts(tmp_path, capsys, bad, which):
    """A cut flow with NaN in n_remaining was merged as int64's minimum (-9223372036854775808); a fraction was
    truncated, a negative count added, text a ValueError traceback."""
    flags, cutflows = [], []
    for k in range(2):
        flags.append(tmp_path / f"T{k}.flags.parquet")
        cutflows.append(tmp_path / f"T{k}.cutflow.parquet")
        pd.DataFrame({"ID": [f"o{k}"], "bg_li2020": [True]}).to_parquet(flags[-1])
        _cutflow(bad if k == which else [1, 1]).to_parquet(cutflows[-1])
    argv = ["merge-preselection", "--flags", *map(str, flags), "--cutflows", *map(str, cutflows),
            "--out", str(tmp_path / "flags.parquet"), "--cutflow", str(tmp_path / "cutflow.parquet")]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert f"{cutflows[which]}: n_remaining: 1 of 2 rows are not counts" in line, line
    assert "expected non-negative integer counts" in line, line
    assert not (tmp_path / "flags.parquet").exists() and not (tmp_path / "cutflow.parquet").exists()

    _cutflow([1, 1]).to_parquet(cutflows[which])  # the same tiles with counts merge
    assert main(argv) == 0
    assert pd.read_parquet(tmp_path / "cutflow.parquet")["n_remaining"].tolist() == [2, 2]


# ---------------------------------------------------------------- stamps, download-legacy-field: --psf-fwhm-arcsec


def _stamps(tmp_path, *extra: str) -> list[str]:
    return ["stamps", "--image", str(tmp_path / "g.fits"), str(tmp_path / "r.fits"), "--bands", "g", "r",
            "--catalog", str(tmp_path / "cat.parquet"), "--flags", str(tmp_path / "flags.parquet"), "--tile", "T",
            "--out-cube", str(tmp_path / "cube.fits"), "--out-index", str(tmp_path / "index.parquet"), *extra]


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "1e400", "wide"])
def test_psf_fwhm_must_be_a_finite_positive_number(tmp_path, capsys, value):
    """stamps took --psf-fwhm-arcsec -1 (and 0, nan, inf) into the index and the cube's header;
    download-legacy-field wrote it into each band's PSF_FWHM."""
    with pytest.raises(SystemExit) as stopped:
        main(_stamps(tmp_path, "--psf-fwhm-arcsec", "0.7", value))
    assert stopped.value.code == 2
    line = _error_line(capsys)
    assert "lensfinder stamps: error: argument --psf-fwhm-arcsec:" in line and "expected a finite number > 0" in line
    assert value in line, line

    with pytest.raises(SystemExit) as stopped:
        main(["download-legacy-field", "--field", "F", "--ra", "150", "--dec", "2", "--size-pix", "100",
              "--out-image", str(tmp_path / "i.fits"), "--out-weight", str(tmp_path / "w.fits"),
              "--out-mask", str(tmp_path / "m.fits"), "--out-catalog", str(tmp_path / "c.parquet"),
              "--tap-url", "http://127.0.0.1:9/tap", "--cutout-url", "http://127.0.0.1:9/cutout", "--retries", "0",
              "--psf-fwhm-arcsec", value])  # no network, should the value be taken
    assert stopped.value.code == 2
    line = _error_line(capsys)
    assert "lensfinder download-legacy-field: error: argument --psf-fwhm-arcsec:" in line, line
    assert "expected a finite number > 0" in line, line
    assert not any(tmp_path.iterdir())

    # one value per band, the bands named (checked before any file is opened)
    assert main(_stamps(tmp_path, "--psf-fwhm-arcsec", "0.7")) == 2
    assert "--psf-fwhm-arcsec: 1 given for --bands g r; expected one per band" in _error_line(capsys)


# ---------------------------------------------------------------- merge-catalog


def _part(path, ids, tile="T1"):
    pd.DataFrame({"ID": ids, "KIDS_TILE": [tile] * len(ids), "MAG_AUTO": np.linspace(18, 21, len(ids))}).to_parquet(path)
    return str(path)


def test_merge_catalog_refuses_a_part_given_twice_and_ids_in_two_parts(tmp_path, capsys, monkeypatch):
    """merge-catalog merged the same part twice (or two copies of one tile) and only preselect refused the
    merged catalogue's repeated IDs, without saying which parts held them."""
    a = _part(tmp_path / "T1.parquet", ["a", "b", "c"])
    b = _part(tmp_path / "T2.parquet", ["d", "e"], tile="T2")
    out = tmp_path / "catalog.parquet"

    def refused(*parts: str) -> str:
        assert main(["merge-catalog", "--parts", *parts, "--out", str(out)]) == 2
        assert not out.exists()
        return _error_line(capsys)

    line = refused(a, b, a)
    assert (f"lensfinder merge-catalog: error: --parts: {a}: the same file as {a}, given before; expected each "
            "catalogue part once") in line, line
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    os.symlink(a, tmp_path / "link.parquet")
    line = refused(a, b, "sub/../T1.parquet")
    assert f"--parts: sub/../T1.parquet: the same file as {a}, given before" in line, line
    line = refused("link.parquet", b, a)
    assert f"--parts: {a}: the same file as link.parquet, given before" in line, line

    copy = _part(tmp_path / "T1_copy.parquet", ["a", "b", "c"])  # the same tile under another name
    line = refused(a, b, copy)
    assert (f"{copy}: ID: 3 IDs appear in more than one part, e.g. 'a', 'b', 'c' also in {a}; "
            "expected one row per object") in line, line
    overlap = _part(tmp_path / "T3.parquet", ["f", "e", "g"], tile="T3")
    empty = _part(tmp_path / "T0.parquet", [], tile="T0")
    line = refused(a, empty, b, overlap)  # an empty tile among them
    assert f"{overlap}: ID: 1 IDs appear in more than one part, e.g. 'e' also in {b}" in line, line

    twice = _part(tmp_path / "T4.parquet", ["h", "i", "h", "j", "i", "h"], tile="T4")
    line = refused(a, twice)
    assert f"{twice}: ID: 2 IDs appear more than once (5 rows), e.g. 'h', 'i'; expected one row per object" in line

    assert main(["merge-catalog", "--parts", a, empty, b, "--out", str(out)]) == 0
    assert pd.read_parquet(out)["ID"].tolist() == ["a", "b", "c", "d", "e"]
