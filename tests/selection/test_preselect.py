"""Preselection: real KiDS DR4 rows, and constructed rows on both sides of every cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.io import InputError
from lensfinder.selection.merge_preselection import merge_preselection_files
from lensfinder.selection.preselect import (
    colour_par_perp, is_detected, preselect, preselect_files, required_columns,
)

STAR = 3  # row 4 of the fixture: bright star, SG2DPHOT = 0, MASK and IMAFLAGS_ISO set


@pytest.fixture(scope="module")
def real_rows(test_data):
    return pd.read_csv(test_data / "kids_dr4_sample.csv")


def test_real_rows_literal_cuts(real_rows):
    flags, cutflow = preselect(real_rows, "dr4")
    assert flags["ID"].tolist() == real_rows["ID"].tolist()
    assert flags["bg_li2020"].tolist() == [False, False, False, True, False]  # the star passes BG literally
    assert not flags["lrg_li2020"].any()  # its |c_perp| = 0.26 fails the LRG colour cut
    assert flags.loc[STAR, "lrg_c_par"] and not flags.loc[STAR, "lrg_c_perp"]
    assert "mask_clean" not in flags.columns
    bg = cutflow[cutflow["sample"] == "bg_li2020"]
    assert bg["cut"].tolist() == ["catalogue", "sg2dphot_galaxy", "r_auto_le_21"]
    assert bg["n_remaining"].tolist() == [5, 5, 1]
    lrg = cutflow[cutflow["sample"] == "lrg_li2020"]
    assert lrg["n_remaining"].tolist() == [5, 5, 1, 1, 1, 0]
    assert list(cutflow.columns) == ["sample", "step", "cut", "n_remaining"]


def test_real_rows_mask_cut_removes_the_star(real_rows):
    flags, cutflow = preselect(real_rows, "dr4", mask_cut=True)
    assert not flags["bg_li2020"].any()
    assert flags["mask_clean"].tolist() == [True, False, False, False, True]
    assert cutflow[cutflow["sample"] == "bg_li2020"]["cut"].tolist()[-1] == "mask_clean"
    assert cutflow[cutflow["sample"] == "bg_li2020"]["n_remaining"].tolist() == [5, 5, 1, 0]
    # only chosen MASK bits count: bit 4 (16) alone is not masked with bits=1
    flags, _ = preselect(real_rows, "dr4", mask_cut=True, mask_bits=1)
    assert flags["mask_clean"].tolist() == [True, True, True, False, True]


def _table(rows):
    """Constructed rows as a catalogue: one ID per row, as KiDS has."""
    return pd.DataFrame(rows).assign(ID=[f"row{k}" for k in range(len(rows))])


def dr4_row(**changes):
    # an LRG that passes every cut: g-r = 1.4, r-i = 0.5 -> c_perp = -0.03, c_par = 1.364, 14 + c_par/0.3 = 18.55
    row = {"ID": "x", "SG2DPHOT": 0, "MAG_AUTO": 18.0, "COLOUR_GAAP_g_r": 1.4, "COLOUR_GAAP_r_i": 0.5,
           "MASK": 0, "IMAFLAGS_ISO": 0}
    row.update(changes)
    return row


@pytest.mark.parametrize("changes, cut, passes", [
    ({}, "sg2dphot_galaxy", True),
    ({"SG2DPHOT": 1}, "sg2dphot_galaxy", False),
    ({"SG2DPHOT": 4}, "sg2dphot_galaxy", False),
    ({"MAG_AUTO": 21.0}, "r_auto_le_21", True),
    ({"MAG_AUTO": 21.01}, "r_auto_le_21", False),
    ({"MAG_AUTO": 20.0}, "r_auto_le_20", True),
    ({"MAG_AUTO": 20.01}, "r_auto_le_20", False),
    ({"MAG_AUTO": 18.54}, "lrg_c_par", True),
    ({"MAG_AUTO": 18.56}, "lrg_c_par", False),
    ({"COLOUR_GAAP_r_i": 0.5 + 0.22}, "lrg_c_perp", True),  # c_perp = 0.19
    ({"COLOUR_GAAP_r_i": 0.5 + 0.24}, "lrg_c_perp", False),  # c_perp = 0.21
    ({"COLOUR_GAAP_r_i": 0.5 - 0.16}, "lrg_c_perp", True),  # c_perp = -0.19
    ({"COLOUR_GAAP_r_i": 0.5 - 0.18}, "lrg_c_perp", False),  # c_perp = -0.21
    ({"COLOUR_GAAP_g_r": np.nan}, "lrg_c_perp", False),
    ({"COLOUR_GAAP_r_i": np.nan}, "lrg_c_par", False),
    ({"MAG_AUTO": np.nan}, "r_auto_le_21", False),
    ({"SG2DPHOT": np.nan}, "sg2dphot_galaxy", False),
])
def test_dr4_cuts_both_sides(changes, cut, passes):
    flags, _ = preselect(pd.DataFrame([dr4_row(**changes)]), "dr4")
    assert bool(flags.loc[0, cut]) is passes
    bg_cuts = ["sg2dphot_galaxy", "r_auto_le_21"]
    lrg_cuts = bg_cuts + ["r_auto_le_20", "lrg_c_par", "lrg_c_perp"]
    assert bool(flags.loc[0, "bg_li2020"]) is bool(flags.loc[0, bg_cuts].all())
    assert bool(flags.loc[0, "lrg_li2020"]) is bool(flags.loc[0, lrg_cuts].all())
    if not changes:
        assert flags.loc[0, lrg_cuts + ["lrg_li2020", "bg_li2020"]].all()


def test_dr4_bg_is_wider_than_lrg():
    rows = _table([dr4_row(), dr4_row(MAG_AUTO=20.5), dr4_row(COLOUR_GAAP_g_r=0.2), dr4_row(SG2DPHOT=1)])
    flags, cutflow = preselect(rows, "dr4")
    assert flags["bg_li2020"].tolist() == [True, True, True, False]
    assert flags["lrg_li2020"].tolist() == [True, False, False, False]
    assert (flags["lrg_li2020"] <= flags["bg_li2020"]).all()


def test_disk_blue_takes_bright_blue_galaxies_not_lrgs():
    rows = _table([dr4_row(), dr4_row(COLOUR_GAAP_g_r=0.59, COLOUR_GAAP_r_i=0.3),
                         dr4_row(COLOUR_GAAP_g_r=0.61, COLOUR_GAAP_r_i=0.3),
                         dr4_row(COLOUR_GAAP_g_r=0.4, MAG_AUTO=20.5), dr4_row(COLOUR_GAAP_g_r=0.4, SG2DPHOT=1),
                         dr4_row(COLOUR_GAAP_g_r=np.nan)])
    flags, cutflow = preselect(rows, "dr4")
    assert flags["disk_blue"].tolist() == [False, True, False, False, False, False]
    assert not (flags["disk_blue"] & flags["lrg_li2020"]).any()
    assert (flags["disk_blue"] <= flags["bg_li2020"]).all()
    disk = cutflow[cutflow["sample"] == "disk_blue"]
    assert disk["cut"].tolist() == ["catalogue", "sg2dphot_galaxy", "r_auto_le_21", "r_auto_le_20", "blue_g_r"]
    assert disk["n_remaining"].tolist() == [6, 5, 5, 4, 1]
    dr3, _ = preselect(_table([dr3_row(), dr3_row(MAG_AUTO_G=18.5)]), "dr3")  # g - r = 1.4, 0.5
    assert dr3["disk_blue"].tolist() == [False, True]


def dr3_row(**changes):
    row = {"ID": "y", "CLASS_STAR": 0.02, "FLUX_RADIUS": 10.0, "MAG_AUTO": 18.0, "MAG_AUTO_G": 19.4,
           "MAG_AUTO_I": 17.5, "COLOR_GAAPHOM_G_R": 1.4, "COLOR_GAAPHOM_R_I": 0.5, "FLAG_R": 0,
           "IMAFLAGS_ISO_R": 0, "DMAG_R": 0.0}
    for b in "ugri":
        row[f"MAG_GAAP_{b}_CALIB"] = 20.0
        row[f"MAGERR_GAAP_{b.upper()}"] = 0.05
    row.update(changes)
    return row


@pytest.mark.parametrize("changes, cut, passes", [
    ({"CLASS_STAR": 0.01}, "class_star_extended", True),
    ({"CLASS_STAR": 0.0099}, "class_star_extended", False),
    ({"CLASS_STAR": 0.03}, "class_star_extended", True),
    ({"CLASS_STAR": 0.031}, "class_star_extended", False),
    ({"FLUX_RADIUS": 5.0}, "flux_radius_5_30_pix", True),
    ({"FLUX_RADIUS": 4.9}, "flux_radius_5_30_pix", False),
    ({"FLUX_RADIUS": 30.0}, "flux_radius_5_30_pix", True),
    ({"FLUX_RADIUS": 30.1}, "flux_radius_5_30_pix", False),
    ({"MAG_GAAP_u_CALIB": 99.0}, "detected_ugri", False),  # KiDS non-detection sentinel
    ({"MAG_GAAP_g_CALIB": np.nan}, "detected_ugri", False),
    ({"MAGERR_GAAP_I": 0.0}, "detected_ugri", False),
    ({"MAGERR_GAAP_R": -1.0}, "detected_ugri", False),
    ({"MAG_GAAP_u_CALIB": 26.9}, "detected_ugri", True),
    ({"MAG_AUTO": 19.99, "MAG_AUTO_G": 21.39, "MAG_AUTO_I": 19.49}, "r_auto_lt_20", True),
    ({"MAG_AUTO": 20.0, "MAG_AUTO_G": 21.4, "MAG_AUTO_I": 19.5}, "r_auto_lt_20", False),
    ({"MAG_AUTO": 18.54, "MAG_AUTO_G": 19.94, "MAG_AUTO_I": 18.04}, "lrg_c_par", True),
    ({"MAG_AUTO": 18.56, "MAG_AUTO_G": 19.96, "MAG_AUTO_I": 18.06}, "lrg_c_par", False),
    ({"MAG_AUTO_I": 17.5 - 0.22}, "lrg_c_perp", True),
    ({"MAG_AUTO_I": 17.5 - 0.24}, "lrg_c_perp", False),
    ({"MAG_AUTO_G": np.nan}, "lrg_c_perp", False),
    ({"FLAG_R": 0}, "flag_r_zero", True),
    ({"FLAG_R": 2}, "flag_r_zero", False),
])
def test_dr3_cuts_both_sides(changes, cut, passes):
    flags, _ = preselect(pd.DataFrame([dr3_row(**changes)]), "dr3")
    assert bool(flags.loc[0, cut]) is passes
    he_cuts = ["class_star_extended", "flux_radius_5_30_pix", "detected_ugri", "r_auto_lt_20", "lrg_c_perp",
               "lrg_c_par"]
    assert bool(flags.loc[0, "lrg_he2020"]) is bool(flags.loc[0, he_cuts].all())
    assert bool(flags.loc[0, "lrg_he2020_refined"]) is bool(flags.loc[0, he_cuts + ["flag_r_zero"]].all())


def test_dr3_cutflow_order_and_refined():
    rows = _table([dr3_row(), dr3_row(FLAG_R=4), dr3_row(CLASS_STAR=0.5), dr3_row(FLUX_RADIUS=40.0)])
    flags, cutflow = preselect(rows, "dr3")
    assert flags["lrg_he2020"].tolist() == [True, True, False, False]
    assert flags["lrg_he2020_refined"].tolist() == [True, False, False, False]
    refined = cutflow[cutflow["sample"] == "lrg_he2020_refined"]
    assert refined["cut"].tolist() == ["catalogue", "class_star_extended", "flux_radius_5_30_pix", "detected_ugri",
                                       "r_auto_lt_20", "lrg_c_perp", "lrg_c_par", "flag_r_zero"]
    assert refined["n_remaining"].tolist() == [4, 3, 2, 2, 2, 2, 2, 1]
    assert refined["step"].tolist() == list(range(8))


def test_dr3_gaap_colours_and_dmag():
    # Kron colours blue (fail), GAaP colours red (pass)
    row = dr3_row(MAG_AUTO_G=18.5, MAG_AUTO_I=17.9)
    assert not preselect(pd.DataFrame([row]), "dr3")[0].loc[0, "lrg_he2020"]
    assert preselect(pd.DataFrame([row]), "dr3", colours="gaap")[0].loc[0, "lrg_he2020"]
    # DMAG_R shifts r_auto across the r < 20 cut
    row = dr3_row(MAG_AUTO=19.95, MAG_AUTO_G=21.35, MAG_AUTO_I=19.45, DMAG_R=0.1)
    assert preselect(pd.DataFrame([row]), "dr3")[0].loc[0, "r_auto_lt_20"]
    assert not preselect(pd.DataFrame([row]), "dr3", apply_dmag=True)[0].loc[0, "r_auto_lt_20"]


def test_colour_formulae():
    c_par, c_perp = colour_par_perp([1.4], [0.5])
    assert c_par[0] == pytest.approx(0.7 * 1.4 + 1.2 * (0.5 - 0.18))
    assert c_perp[0] == pytest.approx(0.5 - 1.4 / 4 - 0.18)
    assert is_detected([20.0, 99.0, np.nan, 20.0], [0.1, 0.1, 0.1, np.nan]).tolist() == [True, False, False, False]


def test_missing_column_names_column_and_release(real_rows):
    with pytest.raises(InputError, match=r"cat\.parquet: missing column\(s\) COLOUR_GAAP_r_i.*dr4"):
        preselect(real_rows.drop(columns=["COLOUR_GAAP_r_i"]), "dr4", source="cat.parquet")
    with pytest.raises(InputError, match=r"MAG_AUTO_G.*dr3"):
        preselect(pd.DataFrame([dr3_row()]).drop(columns=["MAG_AUTO_G"]), "dr3")
    with pytest.raises(InputError, match="Kron"):
        preselect(real_rows, "dr4", colours="kron")
    with pytest.raises(InputError, match="dmag"):
        required_columns("dr4", apply_dmag=True)
    # the mask columns are needed only with the mask cut
    preselect(real_rows.drop(columns=["MASK"]), "dr4")
    with pytest.raises(InputError, match="MASK"):
        preselect(real_rows.drop(columns=["MASK"]), "dr4", mask_cut=True)


def test_cli_real_rows_and_empty_catalogue(real_rows, tmp_path, capsys):
    cat = tmp_path / "catalog.parquet"
    real_rows.to_parquet(cat)
    out, cutflow = tmp_path / "flags.parquet", tmp_path / "cutflow.parquet"
    assert main(["preselect", "--catalog", str(cat), "--release", "dr4", "--out", str(out),
                 "--cutflow", str(cutflow), "--mask-cut"]) == 0
    flags = pd.read_parquet(out)
    assert flags["ID"].tolist() == real_rows["ID"].tolist() and not flags["bg_li2020"].any()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cutflow.csv"), pd.read_parquet(cutflow),
                                  check_dtype=False)
    empty = tmp_path / "empty.parquet"
    real_rows.iloc[:0].to_parquet(empty)
    assert main(["preselect", "--catalog", str(empty), "--out", str(tmp_path / "f0.parquet"),
                 "--cutflow", str(tmp_path / "c0.parquet")]) == 0
    flags0 = pd.read_parquet(tmp_path / "f0.parquet")
    assert len(flags0) == 0 and {"ID", "bg_li2020", "lrg_li2020"} <= set(flags0.columns)
    assert flags0["bg_li2020"].dtype == bool
    assert (pd.read_parquet(tmp_path / "c0.parquet")["n_remaining"] == 0).all()
    real_rows.drop(columns=["SG2DPHOT"]).to_parquet(cat)
    assert main(["preselect", "--catalog", str(cat), "--release", "dr4", "--out", str(out),
                 "--cutflow", str(cutflow)]) == 2
    err = capsys.readouterr().err
    assert "SG2DPHOT" in err and "dr4" in err and str(cat) in err


def test_duplicate_ids_are_refused_naming_them(tmp_path, capsys):
    rows = _table([dr4_row() for _ in range(9)])
    rows["ID"] = ["a", "b", "a", "c", "d", "d", "e", "f", "g"]
    with pytest.raises(InputError, match=r"cat\.parquet: ID: 2 IDs appear more than once \(4 rows\), e\.g\. 'a', 'd'"):
        preselect(rows, "dr4", source="cat.parquet")
    many = _table([dr4_row() for _ in range(14)]).assign(ID=[f"G{k % 7}" for k in range(14)])
    with pytest.raises(InputError, match=r"7 IDs appear more than once \(14 rows\), e\.g\. 'G0', 'G1', 'G2', 'G3', 'G4', \.\.\."):
        preselect(many, "dr4")
    many.to_parquet(tmp_path / "cat.parquet")
    assert main(["preselect", "--catalog", str(tmp_path / "cat.parquet"), "--out", str(tmp_path / "f.parquet")]) == 2
    assert "cat.parquet: ID: 7 IDs appear more than once" in capsys.readouterr().err
    assert not (tmp_path / "f.parquet").exists()


def test_all_nan_columns_are_refused_and_empty_samples_warned(tmp_path, capsys, caplog):
    import logging

    rows = _table([dr4_row(MAG_AUTO=18.0 + 0.1 * k) for k in range(12)])
    with pytest.raises(InputError, match=r"cat: column\(s\) MAG_AUTO, SG2DPHOT: no finite value in 12 rows"):
        preselect(rows.assign(MAG_AUTO=np.nan, SG2DPHOT="--"), "dr4", source="cat")
    rows.assign(SG2DPHOT=np.nan).to_parquet(tmp_path / "cat.parquet")
    assert main(["preselect", "--catalog", str(tmp_path / "cat.parquet"), "--out", str(tmp_path / "f.parquet")]) == 2
    assert "SG2DPHOT: no finite value in 12 rows" in capsys.readouterr().err
    # real rows where a sample happens to be empty: kept, but said loudly, naming the cut that emptied it
    with caplog.at_level(logging.WARNING, logger="lensfinder.selection.preselect"):
        flags, _ = preselect(rows.assign(SG2DPHOT=1), "dr4", source="cat")
    assert not flags["bg_li2020"].any()
    assert "sample bg_li2020 selects NONE of 12 rows (the cut sg2dphot_galaxy leaves nothing)" in caplog.text


def test_colours_without_a_finite_value_empty_only_the_samples_that_need_them(tmp_path, caplog):
    """A Legacy Surveys DR10 field without i band: COLOUR_GAAP_r_i is NaN in every row (docs/surveys.md). Those
    galaxies fail the LRG colour cuts but stay in the BG sample; the colour is named in a warning, not refused."""
    import logging

    from lensfinder.surveys.columns import tractor_to_kids

    n = 12
    mags = {"g": 20.5, "r": 19.0, "z": 18.5}
    tractor = pd.DataFrame({
        "ls_id": np.arange(n) + 1000, "ra": 150.0 + 0.001 * np.arange(n), "dec": np.full(n, 2.2),
        "type": ["DEV"] * (n - 2) + ["PSF"] * 2, "brick_primary": True, "flux_i": 0.0, "flux_ivar_i": 0.0,
        **{f"flux_{b}": 10 ** ((22.5 - m) / 2.5) for b, m in mags.items()},
        **{f"flux_ivar_{b}": 100.0 for b in mags}, "shape_r": 1.5, "maskbits": 0, "fitbits": 0})
    part = tractor_to_kids(tractor, "F1")
    assert not np.isfinite(part["COLOUR_GAAP_r_i"]).any()
    part.to_parquet(tmp_path / "F1.parquet")
    with caplog.at_level(logging.WARNING, logger="lensfinder.selection.preselect"):
        flags, cutflow = preselect_files(tmp_path / "F1.parquet", tmp_path / "f.parquet", tmp_path / "c.parquet")
    assert flags["bg_li2020"].tolist() == [True] * (n - 2) + [False] * 2
    assert not flags["lrg_li2020"].any() and not flags["lrg_c_par"].any()
    assert "F1.parquet: column(s) COLOUR_GAAP_r_i: no finite value in 12 rows" in caplog.text
    assert "sample lrg_li2020 selects NONE of 12 rows (the cut lrg_c_par leaves nothing)" in caplog.text
    # the same with g - r missing too: both colours named, BG kept
    with caplog.at_level(logging.WARNING, logger="lensfinder.selection.preselect"):
        flags, _ = preselect(_table([dr4_row(COLOUR_GAAP_g_r=np.nan, COLOUR_GAAP_r_i=np.nan)] * n), "dr4",
                             source="cat")
    assert flags["bg_li2020"].all() and not flags["lrg_li2020"].any() and not flags["disk_blue"].any()
    assert "cat: column(s) COLOUR_GAAP_g_r, COLOUR_GAAP_r_i: no finite value in 12 rows" in caplog.text


def test_cutflow_defaults_to_a_file_beside_the_flags(real_rows, tmp_path):
    cat = tmp_path / "catalog.parquet"
    real_rows.to_parquet(cat)
    out = tmp_path / "pre" / "flags.parquet"
    assert main(["preselect", "--catalog", str(cat), "--out", str(out)]) == 0
    cutflow = pd.read_parquet(tmp_path / "pre" / "flags.cutflow.parquet")
    assert set(cutflow["sample"]) == {"bg_li2020", "lrg_li2020", "disk_blue"}
    assert (tmp_path / "pre" / "flags.cutflow.csv").exists()


def test_tiles_preselected_one_by_one_and_merged_are_the_whole_catalogue_preselected(tmp_path, capsys):
    """What the workflow does (each tile's flags and cut flow, then `merge-preselection`) gives the flags and
    cut flow of `preselect` on the merged catalogue, in its row order; parts preselected with other cuts, or
    holding the same objects twice, are refused naming the file."""
    rng = np.random.default_rng(5)
    n = 90
    catalogue = _table([dr4_row(SG2DPHOT=int(rng.integers(0, 2)), MAG_AUTO=float(rng.uniform(16.5, 22.0)),
                                COLOUR_GAAP_g_r=float(rng.uniform(0.5, 1.8)), COLOUR_GAAP_r_i=float(rng.uniform(0.2, 0.8)),
                                MASK=int(rng.integers(0, 3) == 0)) for _ in range(n)])
    parts = [catalogue.iloc[:37], catalogue.iloc[37:37], catalogue.iloc[37:]]  # an empty tile among them
    whole = tmp_path / "catalog.parquet"
    catalogue.to_parquet(whole)
    expected_flags, expected_cutflow = preselect_files(whole, tmp_path / "flags.parquet", tmp_path / "cutflow.parquet",
                                                       mask_cut=True)
    assert expected_flags["bg_li2020"].any() and not expected_flags["bg_li2020"].all()
    flag_parts, cutflow_parts = [], []
    for k, part in enumerate(parts):
        part.to_parquet(tmp_path / f"T{k}.parquet")
        flag_parts.append(tmp_path / f"T{k}.flags.parquet")
        cutflow_parts.append(tmp_path / f"T{k}.cutflow.parquet")
        preselect_files(tmp_path / f"T{k}.parquet", flag_parts[-1], cutflow_parts[-1], mask_cut=True)
    assert main(["merge-preselection", "--flags", *map(str, flag_parts), "--cutflows", *map(str, cutflow_parts),
                 "--out", str(tmp_path / "merged.parquet"), "--cutflow", str(tmp_path / "merged_cutflow.parquet")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "merged.parquet"), expected_flags)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "merged_cutflow.parquet"), expected_cutflow)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "merged_cutflow.csv"), expected_cutflow, check_dtype=False)

    preselect_files(tmp_path / "T2.parquet", tmp_path / "plain.parquet", tmp_path / "plain_cutflow.parquet")  # no mask cut
    with pytest.raises(InputError, match=r"plain\.parquet: columns differ from .*T0\.flags\.parquet: missing mask_clean"):
        merge_preselection_files(flag_parts[:2] + [tmp_path / "plain.parquet"],
                                 cutflow_parts[:2] + [tmp_path / "plain_cutflow.parquet"],
                                 tmp_path / "x.parquet", tmp_path / "xc.parquet")
    with pytest.raises(InputError, match=r"plain_cutflow\.parquet: samples, steps and cuts differ from .*T0\.cutflow\.parquet"):
        merge_preselection_files(flag_parts, cutflow_parts[:2] + [tmp_path / "plain_cutflow.parquet"],
                                 tmp_path / "x.parquet", tmp_path / "xc.parquet")
    with pytest.raises(InputError, match=r"ID: 37 IDs appear more than once"):
        merge_preselection_files([flag_parts[0], flag_parts[0]], [cutflow_parts[0], cutflow_parts[0]],
                                 tmp_path / "x.parquet", tmp_path / "xc.parquet")
    assert not (tmp_path / "x.parquet").exists()
    assert main(["merge-preselection", "--flags", *map(str, flag_parts), "--cutflows", str(cutflow_parts[0]),
                 "--out", str(tmp_path / "x.parquet"), "--cutflow", str(tmp_path / "xc.parquet")]) == 2
    assert "expected one cut flow per flags table, got 3 flags tables and 1 cut flows" in capsys.readouterr().err
