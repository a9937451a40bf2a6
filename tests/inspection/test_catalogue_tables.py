"""The ranked list as catalogues (merge-scores --out-fits/--out-ecsv/--out-votable/--out-csv/--out-tex).

Round trips through astropy's readers against the Parquet list, the rounded
CSV, and the AASTeX table's structure.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.table import Table

from lensfinder.cli import main
from lensfinder.inspection.catalogue import (
    CATALOGUE_COLUMNS,
    LOCAL_COLUMNS,
    catalogue_table,
    round_down,
    rounded,
    write_catalogue,
)
from lensfinder.inspection.latex import ranked_latex
from lensfinder.io import write_table
from lensfinder.surveys.designation import DESIGNATIONS, iau_names

FORMATS = {"fits": "fits", "ecsv": "ascii.ecsv", "vot": "votable"}


def _inputs(tmp_path: Path, test_data: Path, *, crossmatch: bool = True):
    """Five real KiDS DR4 objects as predictions, catalogue, cross-match and grades (li2020 and he2020)."""
    real = pd.read_csv(test_data / "kids_dr4_sample.csv", usecols=["ID", "RAJ2000", "DECJ2000", "MAG_AUTO", "Z_B"])
    ids = real["ID"].tolist()
    write_table(real, tmp_path / "cat.parquet")
    write_table(pd.DataFrame({"object_id": ids, "p_cnn": [0.999, 0.98, 0.9, 0.8, 0.7],
                              "samples": ["lrg_li2020;bg_li2020", "bg_li2020", "lrg_li2020", "bg_li2020", "include"],
                              "tile": "KIDS_5.6_-28.2", "png": "png/x.png", "model": "he2020"}),
                tmp_path / "pred.parquet")
    if crossmatch:
        write_table(pd.DataFrame({"object_id": ids, "known_lens": [True, False, False, False, False],
                                  "lenscat_name": ["J0020-2841", "", "", "", ""],
                                  "lenscat_grading": ["confident", "", "", "", ""],
                                  "separation_arcsec": [0.41, np.nan, np.nan, np.nan, np.nan]}), tmp_path / "xm.parquet")
    li = {ids[0]: "AAA", ids[1]: "ABA", ids[2]: "BBC", ids[3]: "CDD", ids[4]: "DDD"}
    he = {ids[0]: "222", ids[1]: "211", ids[2]: "111", ids[3]: "100", ids[4]: "000"}
    for scheme, table in (("li2020", li), ("he2020", he)):
        (tmp_path / f"{scheme}.csv").write_text("object_id,inspector,grade\n" + "".join(
            f"{oid},{who},{g}\n" for oid, gs in table.items() for who, g in zip(("ann", "bob", "cy"), gs)))
    return ids


def _merge(tmp_path: Path, scheme: str, survey: str, *, crossmatch: bool = True) -> Path:
    out = tmp_path / scheme
    argv = ["merge-scores", "--predictions", str(tmp_path / "pred.parquet"), "--grades", str(tmp_path / f"{scheme}.csv"),
            "--scheme", scheme, "--catalog", str(tmp_path / "cat.parquet"), "--survey", survey,
            "--out", str(out / "ranked.parquet"), "--out-csv", str(out / "ranked.csv"), "--out-tex",
            str(out / "ranked.tex"), "--tex-all", "--out-fits", str(out / "ranked.fits"), "--out-ecsv",
            str(out / "ranked.ecsv"), "--out-votable", str(out / "ranked.vot")]
    if crossmatch:
        argv += ["--crossmatch", str(tmp_path / "xm.parquet")]
    assert main(argv) == 0
    assert not [p.name for p in out.iterdir() if ".part" in p.name], "no temporary files left behind"
    return out


def _read(path: Path) -> Table:
    if path.suffix == ".fits":
        return Table.read(path, hdu="RANKED", character_as_bytes=False)
    return Table.read(path, format=FORMATS[path.suffix[1:]])


def _values(column) -> list:
    """A table column as plain values: masked -> None (or NaN for floats)."""
    data = np.ma.asarray(column)
    out = []
    for value, masked in zip(data.data, np.ma.getmaskarray(data)):
        if data.dtype.kind == "f":
            out.append(np.nan if masked else float(value))
        else:
            out.append(None if masked else (value.item() if hasattr(value, "item") else value))
    return out


def _assert_round_trip(path: Path, ranked: pd.DataFrame) -> None:
    table = _read(path)
    expected = [c for c in ranked.columns if c not in LOCAL_COLUMNS]
    assert table.colnames == expected, path
    assert len(table) == len(ranked)
    for col in expected:
        got, want = _values(table[col]), ranked[col]
        if want.dtype.kind == "f":
            np.testing.assert_allclose(np.array(got, dtype=float), want.to_numpy(dtype=float), rtol=1e-12,
                                       equal_nan=True, err_msg=f"{path.name}: {col}")
        elif col == "known_lens":
            want_values = [None if pd.isna(v) else bool(v) for v in want]
            assert [None if g is None else bool(g) for g in got] == want_values, (path.name, col)
        elif want.dtype.kind in "iub":
            assert got == want.tolist(), (path.name, col)
        else:  # strings: an empty string may come back masked
            assert [g or "" for g in got] == want.astype(str).tolist(), (path.name, col)
        spec = CATALOGUE_COLUMNS.get(col)
        if spec and spec.unit:
            assert str(table[col].unit) == spec.unit, (path.name, col)


def test_kids_catalogues_round_trip_and_name_the_objects(tmp_path, test_data):
    ids = _inputs(tmp_path, test_data)
    out = _merge(tmp_path, "li2020", "kids_dr4")
    ranked = pd.read_parquet(out / "ranked.parquet")
    assert ranked.columns[:4].tolist() == ["rank", "name", "object_id", "sample"]
    # for KiDS DR4 the name is the catalogue's own ID; rebuilt from the stored position it would be the same
    # but for the boundary row (see the names test)
    assert ranked["name"].tolist() == ranked["object_id"].tolist()
    rebuilt = pd.Series(iau_names(ranked["ra"], ranked["dec"], DESIGNATIONS["kids_dr4"]), index=ranked.index)
    assert ranked.loc[rebuilt != ranked["name"], "object_id"].tolist() == [ids[2]]
    assert dict(zip(ranked["object_id"], ranked["sample"])) == {ids[0]: "LRG+BG", ids[1]: "BG", ids[2]: "LRG",
                                                                ids[3]: "BG", ids[4]: "added"}
    assert ranked["ra_hms"].iloc[0].count(":") == 2 and ranked["dec_dms"].str.startswith("-").all()
    for suffix in FORMATS:
        _assert_round_trip(out / f"ranked.{suffix}", ranked)
    # descriptions, UCDs and survey travel with the tables
    ecsv = Table.read(out / "ranked.ecsv", format="ascii.ecsv")
    assert ecsv["P"].description == CATALOGUE_COLUMNS["P"].description and ecsv.meta["survey"] == "kids_dr4"
    vot = parse_single_table(out / "ranked.vot")
    assert vot.get_field_by_id("ra").ucd == "pos.eq.ra;meta.main"
    assert " ".join(vot.get_field_by_id("name").description.split()) == CATALOGUE_COLUMNS["name"].description
    with fits.open(out / "ranked.fits") as hdul:
        header = hdul["RANKED"].header
        assert hdul["RANKED"].verify_checksum() == 1
        k = hdul["RANKED"].columns.names.index("separation_arcsec") + 1
    assert header[f"TTYPE{k}"] == "separation_arcsec" and header[f"TUNIT{k}"] == "arcsec"
    assert header[f"TCOMM{k}"] == CATALOGUE_COLUMNS["separation_arcsec"].description
    assert header["SURVEY"] == "kids_dr4" and header["SCHEME"] == "li2020"


def test_rounded_csv(tmp_path, test_data):
    _inputs(tmp_path, test_data)
    out = _merge(tmp_path, "li2020", "kids_dr4")
    text = pd.read_csv(out / "ranked.csv", dtype=str, keep_default_na=False)
    full = pd.read_parquet(out / "ranked.parquet")

    def decimals(col):
        return max(len(v.partition(".")[2]) for v in text[col] if v)

    assert decimals("ra") <= 6 and decimals("dec") <= 6 and decimals("P") <= 3 and decimals("p_human") <= 3
    assert decimals("p_cnn") <= 6 and decimals("r_auto_mag") <= 3 and decimals("separation_arcsec") <= 2
    assert decimals("P") == 3 and decimals("ra") == 6  # the full-precision values need them all
    assert all(re.fullmatch(r"\d+", v) for v in text["n_zero"])  # counts as integers
    np.testing.assert_allclose(text["ra"].astype(float), full["ra"], atol=5e-7)
    np.testing.assert_allclose(text["P"].astype(float), full["P"], atol=5e-4)
    assert text["name"].tolist() == full["name"].tolist() and text.columns.tolist() == full.columns.tolist()
    # a score per model or round (p_cnn_<x>) is rounded like p_cnn (down); unknown columns are left alone
    more = rounded(pd.DataFrame({"p_cnn_round1": [0.123456789], "n_zero": [2.0], "other": [0.123456789]}))
    assert more.iloc[0].tolist() == [0.123456, 2, 0.123456789] and str(more["n_zero"].dtype) == "Int64"


def _tex_rows(tex: str) -> list[str]:
    body = tex.split(r"\startdata", 1)[1].split(r"\enddata", 1)[0]
    return [line for line in body.strip().splitlines() if line.strip()]


def _assert_tex_structure(tex: str, n_rows: int, n_columns: int) -> None:
    depth = 0
    for ch in tex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0, "balanced braces"
    assert tex.count(r"\begin{deluxetable*}") == tex.count(r"\end{deluxetable*}") == 1
    assert re.search(r"\\begin\{deluxetable\*\}\{[lrc]{%d}\}" % n_columns, tex)
    for command in (r"\tablecaption{", r"\tablehead{", r"\startdata", r"\enddata", r"\tablecomments{"):
        assert tex.count(command) == 1, command
    head = tex.split(r"\tablehead{", 1)[1].split(r"\startdata", 1)[0]
    assert head.count(r"\colhead") == 2 * n_columns  # names, then units
    rows = _tex_rows(tex)
    assert len(rows) == n_rows
    for k, row in enumerate(rows):
        assert row.count("&") == n_columns - 1, row
        assert row.rstrip().endswith("\\\\") == (k < n_rows - 1), row  # AASTeX: no \\ after the last row


def test_aastex_tables(tmp_path, test_data):
    ids = _inputs(tmp_path, test_data)
    li = (_merge(tmp_path, "li2020", "kids_dr4") / "ranked.tex").read_text()
    # ID, Name, Sample, R.A., Decl., r_auto, z_phot, s_ave, rms, p_CNN, P, No. zero scores
    _assert_tex_structure(li, n_rows=5, n_columns=12)
    assert r"\colhead{Name}" in li and "KiDS name" not in li and r"\colhead{Sample}" in li
    assert r"\colhead{(deg)}" in li and r"\colhead{(mag)}" in li
    first = _tex_rows(li)[0]
    assert first.startswith("1 & KiDSDR4 J002018.968$-$284111.45 & LRG+BG & 5.07904 & $-$28.68651 & ")
    assert set(ids[:2]) <= {re.sub(r"\$-\$", "-", r.split(" & ")[1]) for r in _tex_rows(li)}

    # He et al.: final list and further vote only; no catalogue magnitude columns in that layout
    he = (_merge(tmp_path, "he2020", "kids_dr4") / "ranked.tex").read_text()
    _assert_tex_structure(he, n_rows=5, n_columns=8)
    statuses = [r.rstrip(" \\").split("&")[-1].strip() for r in _tex_rows(he)]
    assert statuses == ["final", "final", "vote", "", ""]


def test_other_surveys_have_their_own_names_and_no_kids_header(tmp_path, test_data):
    _inputs(tmp_path, test_data, crossmatch=False)
    out = _merge(tmp_path, "li2020", "legacy_dr10", crossmatch=False)
    ranked = pd.read_parquet(out / "ranked.parquet")
    assert ranked["name"].str.fullmatch(r"LS10 J\d{6}\.\d\d[+-]\d{6}\.\d").all()
    tex = (out / "ranked.tex").read_text()
    assert "KiDS" not in tex  # the names are the survey's own, and the header says Name
    assert "LS10 J" in tex and r"\colhead{Name}" in tex
    # not cross-matched: known_lens is unknown (masked), and FITS keeps it unknown rather than True
    assert ranked["known_lens"].isna().all()
    for suffix in FORMATS:
        _assert_round_trip(out / f"ranked.{suffix}", ranked)
    with fits.open(out / "ranked.fits") as hdul:
        column = hdul["RANKED"].columns["known_lens"]
        assert column.format == "I" and column.null is not None

    mock = _merge(tmp_path, "he2020", "mock", crossmatch=False)
    names = pd.read_parquet(mock / "ranked.parquet")["name"]
    assert names.str.startswith("MOCK J").all()
    assert "MOCK J" in (mock / "ranked.tex").read_text()


def test_fits_reads_known_lens_back_as_true_false_and_unknown(tmp_path):
    # astropy's masked bool fills with True: a TNULL of 1 read every real known lens (1) back as null
    df = pd.DataFrame({"rank": [1, 2, 3, 4], "object_id": ["a", "b", "c", "d"], "ra": [1.0, 2, 3, 4],
                       "dec": [0.0, 0, 0, 0], "known_lens": pd.array([True, False, None, True], dtype="boolean")})
    table = catalogue_table(df, survey="mock", scheme="li2020")
    for suffix in FORMATS:
        write_catalogue(table, tmp_path / f"k.{suffix}")
        got = [None if v is None else bool(v) for v in _values(Table.read(tmp_path / f"k.{suffix}")["known_lens"])]
        assert got == [True, False, None, True], suffix
    with fits.open(tmp_path / "k.fits") as hdul:
        column = hdul["RANKED"].columns["known_lens"]
        assert column.format == "I" and column.null == -1
        assert hdul["RANKED"].data["known_lens"].tolist() == [1, 0, -1, 1]


def test_non_ascii_ids_in_every_catalogue_and_no_half_set(tmp_path):
    # a known lens named with an umlaut: FITS raised a raw UnicodeEncodeError after the Parquet, CSV and TeX
    ids = ["Q2237+030 Hölzl", "x2"]
    write_table(pd.DataFrame({"object_id": ids, "p_cnn": [0.9, 0.8], "ra": [1.0, 2.0], "dec": [0.0, 0.0]}),
                tmp_path / "cand.parquet")
    (tmp_path / "g.csv").write_text("object_id,inspector,grade\nQ2237+030 Hölzl,ann,A\nx2,ann,B\n", encoding="utf-8")
    out = tmp_path / "out"
    names = ["r.parquet", "r.csv", "r.tex", "r.fits", "r.ecsv", "r.vot", "index.html"]

    def argv(predictions):
        return ["merge-scores", "--predictions", str(predictions), "--grades", str(tmp_path / "g.csv"),
                "--out", str(out / names[0]), "--out-csv", str(out / names[1]), "--out-tex", str(out / names[2]),
                "--out-fits", str(out / names[3]), "--out-ecsv", str(out / names[4]), "--out-votable",
                str(out / names[5]), "--out-summary", str(out / names[6])]

    assert main(argv(tmp_path / "cand.parquet")) == 0
    assert sorted(p.name for p in out.iterdir() if p.name in names) == sorted(names)
    for suffix in FORMATS:
        table = _read(out / f"r.{suffix}")
        assert [str(v) for v in _values(table["object_id"])] == ids, suffix
        assert [str(v) for v in _values(table["name"])] == ids, suffix
    with fits.open(out / "r.fits") as hdul:
        assert hdul["RANKED"].verify_checksum() == 1
        assert "UTF-8 text in column(s) name, object_id" in str(hdul["RANKED"].header["COMMENT"])
    assert Table.read(out / "r.fits")["object_id"][0] == ids[0]  # astropy's default reader decodes it too

    # a list one format cannot hold (a FITS column name must be ASCII) fails before any file is written
    write_table(pd.DataFrame({"object_id": ["a"], "p_cnn": [0.9], "ra": [1.0], "dec": [0.0], "flüx": [1.0]}),
                tmp_path / "odd.parquet")
    (tmp_path / "g.csv").write_text("object_id,inspector,grade\na,ann,A\n")
    shutil.rmtree(out)
    assert main(argv(tmp_path / "odd.parquet")) == 2
    assert not out.exists() or not list(out.iterdir())


def test_votable_keeps_survey_and_scheme(tmp_path, test_data):
    _inputs(tmp_path, test_data)
    out = _merge(tmp_path, "he2020", "kids_dr4")
    vot = parse_single_table(out / "ranked.vot")
    params = {p.name: p.value for p in vot.params}
    assert params == {"survey": "kids_dr4", "scheme": "he2020"}
    assert "Lens candidates ranked" in vot.description
    # as FITS and ECSV keep them
    assert Table.read(out / "ranked.ecsv").meta["scheme"] == "he2020"
    assert fits.getheader(out / "ranked.fits", "RANKED")["SCHEME"] == "he2020"


def test_round_down_never_crosses_a_cut():
    values = np.array([0.69965, 0.7, 0.57, 0.5, 0.4999999, 0.875 * 0.8, 1.0, 0.0, np.nan, 0.9995 * 0.7])
    down = round_down(values, 3)
    np.testing.assert_array_equal(down[:8], [0.699, 0.7, 0.57, 0.5, 0.499, 0.7, 1.0, 0.0])
    assert np.isnan(down[8]) and down[9] == 0.699
    # every 3-decimal cut holds for the rounded value exactly where it holds for the full one
    rng = np.random.default_rng(1)
    full = np.concatenate([rng.uniform(0, 1, 20000), np.arange(1001) / 1000, np.arange(1001) / 1000 - 1e-12,
                           np.arange(1001) / 1000 * 0.8 / 0.8])
    down = round_down(full, 3)
    for cut in (0.5, 0.7, 0.57, 0.123):
        np.testing.assert_array_equal(down >= cut, full >= cut, err_msg=str(cut))
    assert (down <= full).all() and (full - down < 0.001 + 1e-12).all()


def test_p_just_under_the_golden_cut_reads_under_it_everywhere(tmp_path, capsys):
    # P = 0.9995 * 0.7 = 0.69965: quality high; rounded to nearest it read 0.700 beside "high"
    write_table(pd.DataFrame({"object_id": ["x1", "x2"], "p_cnn": [0.9995, 0.8], "ra": [1.0, 2.0], "dec": [0.0, 0.0]}),
                tmp_path / "cand.parquet")
    (tmp_path / "g.csv").write_text("object_id,inspector,grade\nx1,ann,B\nx1,bob,B\nx2,ann,A\nx2,bob,A\n")
    assert main(["merge-scores", "--predictions", str(tmp_path / "cand.parquet"), "--grades", str(tmp_path / "g.csv"),
                 "--out", str(tmp_path / "r.parquet"), "--out-csv", str(tmp_path / "r.csv"), "--out-tex",
                 str(tmp_path / "r.tex"), "--out-summary", str(tmp_path / "index.html")]) == 0
    ranked = pd.read_parquet(tmp_path / "r.parquet").set_index("object_id")
    assert ranked.loc["x1", "P"] == pytest.approx(0.69965) and ranked.loc["x1", "quality"] == "high"
    csv = pd.read_csv(tmp_path / "r.csv", dtype=str).set_index("object_id")
    assert csv.loc["x1", "P"] == "0.699" and csv.loc["x2", "P"] == "0.8"
    row = next(r for r in _tex_rows((tmp_path / "r.tex").read_text()) if r.startswith("2 & x1"))
    assert row.split(" & ")[-2] == "0.699"
    html = (tmp_path / "index.html").read_text()
    assert re.search(r"P = p_CNN \u00d7 p_hum</th><td>0\.699</td></tr><tr><th>quality</th><td>high", html)
    assert "<td>0.699</td>" in html.split("<section", 1)[0]  # the index table too
    capsys.readouterr()
    assert main(["digest", str(tmp_path / "r.parquet")]) == 0
    assert "x1  P 0.6996  p_CNN 0.9995  high" in capsys.readouterr().out


def test_tex_all_captions_all_ranked_objects(tmp_path, test_data):
    _inputs(tmp_path, test_data)
    out = _merge(tmp_path, "li2020", "kids_dr4")  # --tex-all
    assert r"\tablecaption{All 5 ranked objects, ranked by $P" in (out / "ranked.tex").read_text()
    ranked = pd.read_parquet(out / "ranked.parquet")
    best = ranked_latex(ranked, "li2020")
    n_best = int(ranked["quality"].isin(["golden", "high"]).sum())
    assert rf"\tablecaption{{The {n_best} best lens candidates, ranked by $P" in best
    he = ranked_latex(pd.read_parquet(_merge(tmp_path, "he2020", "kids_dr4") / "ranked.parquet"), "he2020",
                      all_rows=True)
    assert r"\tablecaption{All 5 ranked objects by summed inspector score" in he


def test_the_same_table_gives_the_same_fits_bytes_and_its_checksums_verify(tmp_path, monkeypatch):
    """astropy writes the write time into the CHECKSUM and DATASUM comments (and so into CHECKSUM itself):
    ranked.fits was the one file of a rerun that changed. Two writes a (faked) minute apart are the same
    bytes, and the checksums still verify."""
    import time as time_module

    df = pd.DataFrame({"rank": [1, 2], "object_id": ["a", "b"], "ra": [1.0, 2.0], "dec": [0.0, 0.5]})
    table = catalogue_table(df, survey="mock", scheme="li2020")
    write_catalogue(table, tmp_path / "a.fits")
    real = time_module.time
    monkeypatch.setattr(time_module, "time", lambda: real() + 61.0)
    monkeypatch.setattr(time_module, "localtime", lambda *a: time_module.gmtime(real() + 61.0))
    monkeypatch.setattr(time_module, "gmtime", lambda *a, _g=time_module.gmtime: _g(real() + 61.0))
    write_catalogue(table, tmp_path / "b.fits")
    assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()
    with fits.open(tmp_path / "a.fits", checksum=True) as hdul:
        assert all(hdu.header.comments["CHECKSUM"] == "HDU checksum" for hdu in hdul)


def test_sample_and_n_members_descriptions_say_what_the_columns_hold():
    # `sample` was "Preselected sample(s)" but holds the samples whose p_cnn threshold the object passed
    # (an object preselected as LRG and BG that passed only the LRG threshold reads LRG); n_members had none
    assert "threshold the object passed" in CATALOGUE_COLUMNS["sample"].description
    assert "Preselected sample(s):" not in CATALOGUE_COLUMNS["sample"].description
    assert "averaged into p_cnn" in CATALOGUE_COLUMNS["n_members"].description
