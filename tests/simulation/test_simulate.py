"""Simulator: physics against lenstronomy, populations, reproducibility, CLI, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder import simulation as sim
from lensfinder.io import InputError, read_cube, read_table
from lensfinder.simulation.optics import snr_he2020

lenstronomy = pytest.importorskip("lenstronomy")
from simulation.lenstronomy_reference import lenstronomy_image  # noqa: E402


@pytest.fixture(scope="module")
def skeleton_shard():
    return sim.simulate_shard("skeleton", 24, seed=5, shard=2, set_name="t", progress=False)


@pytest.fixture(scope="module")
def he2020_noiseless():
    return sim.simulate_shard("he2020", 6, seed=3, shard=0, params={"light_supersampling": 1},
                              noiseless=True, progress=False)


# ---------------------------------------------------------------- physics vs lenstronomy


def test_skeleton_noiseless_matches_lenstronomy():
    images, meta = sim.simulate_shard("skeleton", 16, seed=11, shard=0, params={"light_supersampling": 1},
                                      noiseless=True, progress=False)
    assert set(meta["kind"]) >= {"lens", "elliptical", "elliptical_pair"}
    for i in range(len(meta)):
        ref = lenstronomy_image(meta.iloc[i])
        assert np.max(np.abs(images[i] - ref)) < 1e-3 * ref.max(), meta["kind"][i]


def test_moffat_psf_matches_lenstronomy():
    images, meta = sim.simulate_shard("skeleton", 4, seed=4, shard=0, noiseless=True, progress=False,
                                      params={"light_supersampling": 1, "psf_model": "moffat"})
    assert (meta["psf_model"] == "moffat").all() and meta["psf_beta"].between(2.8, 4.8).all()
    for i in range(len(meta)):
        ref = lenstronomy_image(meta.iloc[i])
        assert np.max(np.abs(images[i] - ref)) < 1e-3 * ref.max()
    np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[1]), images[1])


def test_he2020_with_subhaloes_matches_lenstronomy(he2020_noiseless):
    images, meta = he2020_noiseless
    lenses = meta.index[meta["is_lens"]]
    assert (meta.loc[lenses, "n_subhalo"] > 0).any()
    for i in lenses:
        ref = lenstronomy_image(meta.loc[i])
        assert np.max(np.abs(images[i] - ref)) < 1e-3 * ref.max()


def test_supersampled_centre_matches_lenstronomy_adaptive():
    images, meta = sim.simulate_shard("skeleton", 4, seed=2, shard=0, noiseless=True, progress=False,
                                      params={"lens_fraction": 0.0, "negative_mix": {"elliptical": 1.0},
                                              "lens_center_offset_arcsec": 0.3, "light_supersampling_levels": 0})
    for i in range(len(meta)):
        row = meta.iloc[i]
        n, s = int(row["stamp_size"]), float(row["pixel_scale_arcsec"])
        r, f = int(row["light_supersampling_radius_pix"]), int(row["light_supersampling"])
        mask = np.zeros((n, n), dtype=bool)
        ic = int(np.rint(row["lens_light_center_y"] / s + (n - 1) / 2))
        jc = int(np.rint(row["lens_light_center_x"] / s + (n - 1) / 2))
        mask[ic - r:ic + r + 1, jc - r:jc + r + 1] = True
        ref = lenstronomy_image(row, supersampled_indexes=mask, supersampling_factor=f)
        assert np.max(np.abs(images[i] - ref)) < 1e-3 * ref.max()


def test_flux_is_conserved_with_central_supersampling():
    params = {"lens_fraction": 0.0, "negative_mix": {"elliptical": 1.0}, "elliptical_n_sersic": 4.0,
              "elliptical_R_sersic_arcsec": 0.8, "lens_center_offset_arcsec": 0.0}
    images, meta = sim.simulate_shard("skeleton", 4, seed=1, shard=0, params=params, noiseless=True, progress=False)
    expected = 10 ** (-0.4 * (meta["mag_lens"].to_numpy() - 30.0))
    ratio = images.sum(axis=(1, 2)) / expected
    assert np.all(np.abs(ratio - 1) < 0.03)
    coarse, _ = sim.simulate_shard("skeleton", 4, seed=1, shard=0, params={**params, "light_supersampling": 1},
                                   noiseless=True, progress=False)
    assert np.all(coarse.sum(axis=(1, 2)) > 1.1 * expected)  # the n = 4 cusp in one pixel


# ---------------------------------------------------------------- reproducibility


def test_render_from_metadata_reproduces_shard(skeleton_shard):
    images, meta = skeleton_shard
    for kind in meta["kind"].unique():
        i = int(np.flatnonzero(meta["kind"] == kind)[0])
        np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i]), images[i])
    i = int(np.flatnonzero(meta["is_lens"])[0])
    noiseless = sim.render_from_metadata(meta.iloc[i], noiseless=True)
    assert not np.array_equal(noiseless, images[i])
    corner = (images[i] - noiseless)[:20, :20]
    assert np.std(corner) == pytest.approx(meta["sky_sigma"][i], rel=0.15)


def test_metadata_without_the_refinement_levels_renders_as_it_was_made():
    """Shards written before ``light_supersampling_levels`` existed were made without the nested refinement of
    the centres: their rows render as then, and today's rows differ from them only there."""
    params = {"lens_fraction": 0.0, "negative_mix": {"elliptical": 1.0}, "elliptical_R_sersic_arcsec": 0.3,
              "elliptical_n_sersic": 5.0}
    images, meta = sim.simulate_shard("skeleton", 3, seed=4, shard=0, params=params, noiseless=True, progress=False)
    before, _ = sim.simulate_shard("skeleton", 3, seed=4, shard=0, params={**params, "light_supersampling_levels": 0},
                                   noiseless=True, progress=False)
    old = meta.drop(columns="light_supersampling_levels")
    for i in range(len(meta)):
        np.testing.assert_array_equal(sim.render_from_metadata(old.iloc[i]), before[i])
        np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i]), images[i])
    assert (meta["light_supersampling_levels"] == 3).all()
    assert not np.array_equal(images, before)


def test_render_from_parquet_row(tmp_path, he2020_noiseless):
    images, meta = he2020_noiseless
    path = tmp_path / "m.parquet"
    meta.to_parquet(path, index=False)
    back = pd.read_parquet(path)
    for i in range(len(back)):
        np.testing.assert_array_equal(sim.render_from_metadata(back.iloc[i]), images[i])


def test_same_seed_same_images_and_images_independent_of_shard_size(skeleton_shard):
    images, meta = skeleton_shard
    again, meta2 = sim.simulate_shard("skeleton", 10, seed=5, shard=2, set_name="t", progress=False)
    np.testing.assert_array_equal(again, images[:10])
    pd.testing.assert_frame_equal(meta2, meta.iloc[:10].reset_index(drop=True))
    other, _ = sim.simulate_shard("skeleton", 10, seed=6, shard=2, progress=False)
    assert not np.array_equal(other, again)
    assert meta["object_id"][3] == "t-5-2-3"
    assert meta["image_seed"].dtype == np.uint64


def test_metadata_columns(skeleton_shard):
    _, meta = skeleton_shard
    for col in ["object_id", "is_lens", "recipe", "seed", "shard", "index", "image_seed", "kind", "theta_E", "e1",
                "e2", "gamma1", "gamma2", "center_x", "center_y", "lens_light_R_sersic", "lens_light_n_sersic",
                "lens_light_amp", "source_R_sersic", "source_n_sersic", "source_amp", "psf_fwhm_arcsec", "snr",
                "sky_sigma", "mag_lens", "mag_source", "pixel_scale_arcsec", "zeropoint_mag"]:
        assert col in meta.columns, col
    assert meta.loc[~meta["is_lens"], "theta_E"].isna().all()
    assert meta.loc[meta["is_lens"], "theta_E"].notna().all()


# ---------------------------------------------------------------- populations


def test_skeleton_population_ranges_and_mix():
    from lensfinder.simulation.shards import draw_table

    p = sim.recipe_params("skeleton")
    df = draw_table(p, 9, 0, np.arange(3000))
    row = sim.draw_image_params(p, 9, 0, 1235)  # one row: the row of its block
    assert row["image_seed"] == df["image_seed"][1235] and row["theta_E"] == df["theta_E"][1235]
    assert df["is_lens"].sum() == 1500
    lens = df[df["is_lens"]]
    assert lens["theta_E"].between(1.0, 3.0).all() and lens["lens_q"].between(0.7, 1.0).all()
    assert np.hypot(lens["gamma1"], lens["gamma2"]).max() <= 0.05 + 1e-12
    assert lens["mag_source"].between(20.5, 23.5).all() and lens["mag_lens"].between(17, 20).all()
    assert df["psf_fwhm_arcsec"].between(0.55, 0.9).all()
    neg = df.loc[~df["is_lens"], "kind"].value_counts(normalize=True)
    for kind, w in p.negative_mix.items():
        assert neg[kind] == pytest.approx(w, abs=0.04)
    pairs = df[df["kind"] == "elliptical_pair"]
    dist = np.hypot(pairs["companion_center_x"] - pairs["lens_light_center_x"],
                    pairs["companion_center_y"] - pairs["lens_light_center_y"])
    assert (dist >= 1.5).all()
    bd = df[df["kind"] == "bulge_disk"]
    assert bd["bulge_to_disk"].between(0.2, 3.0).all() and bd["disk_n_sersic"].between(0.9, 1.1).all()


def test_he2020_lens_population_theta_E_histogram():
    from lensfinder.simulation.draw import lens_population

    pop = lens_population(sim.recipe_params("he2020"))
    rng = np.random.default_rng(0)
    draws = [pop.draw(rng) for _ in range(4000)]
    theta = np.array([d["theta_E"] for d in draws])
    assert theta.min() >= 1.4 and theta.max() <= 5.0
    hist, _ = np.histogram(theta, bins=np.linspace(1.4, 5.0, 7))
    assert hist[0] > hist[-1] > 0  # falls with theta_E (He et al. 2020, Fig. 3)
    zd = {d["z_d"] for d in draws}
    assert zd <= set(sim_pairs()) and len(zd) >= 8
    for d in draws[:200]:
        assert d["z_s"] in sim_pairs()[d["z_d"]]


def sim_pairs():
    from lensfinder.simulation.populations import HE2020_REDSHIFT_PAIRS

    return HE2020_REDSHIFT_PAIRS


def test_he2020_rows_follow_the_paper(he2020_noiseless):
    p = sim.recipe_params("he2020")
    rows = [sim.draw_image_params(p, 4, 0, i) for i in range(60)]
    df = sim.rows_to_frame(rows)
    lens = df[df["is_lens"]]
    assert lens["theta_E"].between(1.4, 5.0).all() and lens["lens_q"].between(0.7, 1.0).all()
    assert (lens["gamma1"] == 0).all() and lens["lens_light_n_sersic"].between(2, 5).all()
    assert lens["source_R_sersic"].between(0.2, 0.7).all() and lens["mag_source"].between(15, 25).all()
    # S/N of eq. 17 times U(0.9, 1.1) unless the object's own Poisson noise exceeds it
    ratio = df["snr"] / snr_he2020(df["mag_lens"])
    floored = df["sky_sigma"] <= 0.0100001
    assert ratio[~floored].between(0.9 - 1e-6, 1.1 + 1e-6).all()
    for _, row in lens.iterrows():
        masses = np.asarray(row["subhalo_mass_msun"])
        if len(masses):
            assert masses.min() >= min(0.01 * row["m200_msun"], 1e9) * 0.999 or masses.min() >= 1e9
            assert masses.max() <= 0.05 * row["m200_msun"] * 1.001
    assert df.loc[df["kind"] == "elliptical", "lens_light_R_sersic"].between(0.2, 0.7).all()
    images, meta = he2020_noiseless
    assert images.shape[1:] == (97, 97) and meta["pixel_scale_arcsec"].eq(0.21).all()


def test_huertas_company_option():
    p = sim.recipe_params("skeleton", {"sersic_n_distribution": "huertas_company", "lens_fraction": 1.0,
                                       "draw_scheme": "per_image"})
    n = np.array([sim.draw_image_params(p, 1, 0, i)["lens_light_n_sersic"] for i in range(400)])
    assert n.min() >= 2 and n.max() <= 5 and np.mean(n) > 3.7  # skewed to high n, unlike U(2, 5)


# ---------------------------------------------------------------- parameters and CLI


@pytest.mark.parametrize("override, key", [
    ({"psf_fwhm_arcsec": [0.9, 0.5]}, "psf_fwhm_arcsec"),
    ({"lens_q": [0.5, 1.2]}, "lens_q"),
    ({"source_R_sersic_arcsec": [-0.1, 0.5]}, "source_R_sersic_arcsec"),
    ({"stamp_size": 0}, "stamp_size"),
    ({"lens_fraction": 1.5}, "lens_fraction"),
    ({"negative_mix": {"lensed_spiral": 1.0}}, "negative_mix"),
    ({"no_such_key": 1}, "no_such_key"),
    ({"noise_model": "magic"}, "noise_model"),
    ({"theta_E_arcsec": "big"}, "theta_E_arcsec"),
])
def test_bad_parameters_name_the_key(override, key):
    with pytest.raises(InputError, match=key):
        sim.recipe_params("skeleton", override)


def test_numbers_in_exponent_form_are_numbers(tmp_path):
    """YAML 1.1 (PyYAML, Snakemake's configuration) reads 1e11 as text; a number parameter takes it as the
    number it is, on the command line and from a config mapping alike, and real text is still refused."""
    from lensfinder.cli.options import parse_key_values

    given = parse_key_values(["halo_mass_range_msun=[1e11,1e15]", "subhalo_mass_floor_msun=1e9", "arc_snr=[8, 1e3]"],
                            "--set")
    assert given["subhalo_mass_floor_msun"] == "1e9"  # as PyYAML reads it
    p = sim.recipe_params("he2020", {k: v for k, v in given.items() if k != "arc_snr"})
    assert p.halo_mass_range_msun == (1e11, 1e15) and p.subhalo_mass_floor_msun == 1e9
    assert sim.recipe_params("broad", {"arc_snr": given["arc_snr"]}).arc_snr == (8.0, 1000.0)
    with pytest.raises(InputError, match="subhalo_mass_floor_msun: expected a number"):
        sim.recipe_params("he2020", {"subhalo_mass_floor_msun": "1e9 Msun"})


def test_magnitudes_or_zero_points_that_overflow_the_counts_are_refused():
    """A zero point of 80 or lens magnitudes of -60 gave cubes of NaN and inf without an error."""
    for params, shown in (({"zeropoint_mag": 80.0}, r"zeropoint_mag \(80\)"), ({"lens_mag": [-70, -60]}, "mag_lens -6")):
        with pytest.raises(InputError, match=rf"images have non-finite pixels .*{shown}"):
            with np.errstate(over="ignore", invalid="ignore"):
                sim.simulate_shard("skeleton", 4, 1, 0, params, progress=False)


def test_huge_mix_weights_are_normalised_by_their_ratios():
    from lensfinder.simulation.mix import mix_weights

    assert mix_weights({"broad": 1e308, "sky": 1e308, "li2020": 0}) == {"broad": 0.5, "sky": 0.5}
    assert mix_weights({"broad": 3.0, "sky": 1.0}) == {"broad": 0.75, "sky": 0.25}


def test_a_misspelt_parameter_gets_the_nearest_real_name():
    with pytest.raises(InputError, match=r"theta_E_arcsecc: unknown parameter of recipe 'broad' "
                                         r"\(did you mean 'theta_E_arcsec'\?\); known: "):
        sim.recipe_params("broad", {"theta_E_arcsecc": 1.0})
    with pytest.raises(InputError) as far:
        sim.recipe_params("broad", {"no_such_key": 1})
    assert "did you mean" not in str(far.value)


def test_every_parameter_is_documented():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "simulation.md").read_text()
    missing = [name for name in sim.PARAMS if f"| `{name}` |" not in text]
    assert not missing, f"docs/simulation.md does not list {missing}"


def test_recipe_is_read_only_and_typed():
    import dataclasses

    p = sim.recipe_params("skeleton", {"source_clumps": [1.0, 3], "psf_fwhm_arcsec": [1, 2]})
    assert p.source_clumps == (1, 3) and p.psf_fwhm_arcsec == (1.0, 2.0) and p.name == "skeleton"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.stamp_size = 5
    with pytest.raises(TypeError):
        p.negative_mix["elliptical"] = 1.0


def test_fixed_value_for_a_range():
    p = sim.recipe_params("he2020", {"psf_fwhm_arcsec": 0.7})
    assert p.psf_fwhm_arcsec == (0.7, 0.7)


def test_cli_writes_shard(tmp_path):
    from lensfinder.cli import main

    out = tmp_path / "train"
    rc = main(["simulate", "--recipe", "skeleton", "--n", "6", "--seed", "1", "--shard", "3", "--set-name", "train",
               "--out", str(out), "--set", "psf_fwhm_arcsec=[0.55,0.75]", "--set", "stamp_size=65"])
    assert rc == 0
    cube, header = read_cube(out / "shard_003.fits", memmap=False)
    meta = read_table(out / "shard_003.parquet")
    assert cube.shape == (6, 65, 65) and header["ZEROPT"] == 30.0 and header["PIXSCALE"] == 0.2
    assert meta["object_id"][0] == "train-1-3-0" and meta["psf_fwhm_arcsec"].between(0.55, 0.75).all()
    images, _ = sim.simulate_shard("skeleton", 6, 1, 3, {"psf_fwhm_arcsec": [0.55, 0.75], "stamp_size": 65},
                                   "train", progress=False)
    np.testing.assert_array_equal(cube, images)


def test_cli_bad_input_writes_nothing(tmp_path, capsys):
    from lensfinder.cli import main

    out = tmp_path / "bad"
    rc = main(["simulate", "--n", "4", "--out", str(out), "--set", "lens_q=[0.9,0.5]"])
    assert rc == 2
    assert "lens_q" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_empty_shard():
    images, meta = sim.simulate_shard("skeleton", 0, 1, 0, progress=False)
    assert images.shape == (0, 101, 101) and len(meta) == 0


# ---------------------------------------------------------------- semi-real (li2020)


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory):
    """A stamps-stage cube + index of 20 simulated ellipticals (rows 0-9 flagged LRG, row 19 at an edge)."""
    from lensfinder.io import write_cube, write_table

    images, meta = sim.simulate_shard("skeleton", 20, 7, 0, params={"lens_fraction": 0.0,
                                      "negative_mix": {"elliptical": 1.0}}, progress=False)
    index = pd.DataFrame({
        "object_id": [f"KiDS-{i}" for i in range(20)], "tile": "t", "ra": 0.0, "dec": 0.0, "x_pix": 0.0, "y_pix": 0.0,
        "edge": [False] * 19 + [True], "masked_fraction": 0.0, "nan_fraction": 0.0,
        "psf_fwhm_arcsec": meta["psf_fwhm_arcsec"], "zeropoint_mag": 30.0, "pixel_scale_arcsec": 0.2,
        "lrg_li2020": [True] * 10 + [False] * 10, "bg_li2020": True})
    path = tmp_path_factory.mktemp("stamps")
    write_cube(images, path / "t.fits", 0.2, 30.0)
    write_table(index, path / "t.parquet")
    return path


def test_semireal_shard(host_dir):
    from lensfinder.simulation.semireal import augment_image, host_stamp

    images, meta = sim.simulate_shard("li2020", 16, 1, 0, params={"host_stamps": [str(host_dir)]}, progress=False)
    assert images.shape == (16, 101, 101) and meta["is_lens"].sum() == 8
    lenses, hosts = meta[meta["is_lens"]], meta[~meta["is_lens"]]
    assert lenses["host_row"].between(0, 9).all() and (meta["host_row"] != 19).all()
    assert np.log(lenses["theta_E"]).between(np.log(1.0), np.log(5.0)).all()
    assert meta["aug_shift_x_pix"].between(-4, 4).all() and meta["aug_flux_scale"].between(0.9, 1.1).all()
    assert meta["aug_shift_x_pix"].nunique() > 1 and (meta["aug_rotation_deg"] == 0).all()
    for i in hosts.index[:3]:
        r = meta.loc[i]
        np.testing.assert_array_equal(images[i], augment_image(
            host_stamp(r["host_file"], r["host_row"], r["aug_rot90"], r["aug_flip"]), 0.0, r["aug_shift_x_pix"],
            r["aug_shift_y_pix"], (0, 0, 0, 0), r["aug_flux_scale"], r["aug_seed"]))
    arcs = sim.render_images(lenses, noiseless=True, with_hosts=False)
    for k, i in enumerate(lenses.index):
        r = meta.loc[i]
        host = host_stamp(r["host_file"], r["host_row"], r["aug_rot90"], r["aug_flip"])
        assert arcs[k].max() / host[48:53, 48:53].max() == pytest.approx(r["arc_peak_ratio"], rel=1e-4)
        np.testing.assert_array_equal(sim.render_from_metadata(meta.loc[i]), images[i])


def test_host_exclude_keeps_known_lenses_out_of_hosts_and_negatives(host_dir, tmp_path):
    """The mock survey plants lenses in about one LRG stamp in eight: a semi-real set must not paint arcs on
    them or call them negatives. host_exclude's tables (the truth: is_lens rows by ID; a plain list of ids)
    take them out of both pools."""
    from lensfinder.io import write_table

    truth = tmp_path / "truth.parquet"
    write_table(pd.DataFrame({"ID": ["KiDS-1", "KiDS-2", "KiDS-12", "KiDS-3"], "is_lens": [True, True, True, False]}),
                truth)
    known = tmp_path / "known.parquet"
    write_table(pd.DataFrame({"object_id": ["KiDS-4"]}), known)
    params = {"host_stamps": [str(host_dir)], "negative_flag": "", "host_exclude": [str(truth), str(known)]}
    _, meta = sim.simulate_shard("li2020", 60, 2, 0, params=params, progress=False)
    used = set(meta["host_row"])
    assert not used & {1, 2, 4, 12} and 3 in used  # is_lens false: a host like any other
    assert meta["is_lens"].any() and (~meta["is_lens"]).any()
    _, plain = sim.simulate_shard("li2020", 60, 2, 0, params={k: v for k, v in params.items() if k != "host_exclude"},
                                  progress=False)
    assert set(plain["host_row"]) & {1, 2, 4, 12}  # without it they are drawn
    with pytest.raises(InputError, match="missing column"):
        write_table(pd.DataFrame({"name": ["x"]}), tmp_path / "bad.parquet")
        sim.simulate_shard("li2020", 4, 2, 0, params={**params, "host_exclude": [str(tmp_path / "bad.parquet")]},
                           progress=False)


def test_semireal_arc_with_clumps_matches_lenstronomy(host_dir):
    _, meta = sim.simulate_shard("li2020", 8, 2, 0, noiseless=True, progress=False,
                                 params={"host_stamps": [str(host_dir)], "grf_deflection_rms_arcsec": 0.0,
                                         "source_clumps": [2, 3]})
    lenses = meta[meta["is_lens"]].reset_index(drop=True)
    arcs = sim.render_images(lenses, noiseless=True, with_hosts=False)
    for i in range(len(lenses)):
        ref = lenstronomy_image(lenses.iloc[i])
        assert np.max(np.abs(arcs[i] - ref)) < 1e-3 * ref.max()


def test_grf_perturbation_has_the_requested_rms():
    from lensfinder.simulation.semireal import grf_deflection

    gx, gy = grf_deflection(5, 0.03, 101, 0.2)
    assert np.sqrt(np.mean(gx**2 + gy**2)) == pytest.approx(0.03)
    np.testing.assert_array_equal(grf_deflection(5, 0.03, 101, 0.2)[0], gx)


def test_semireal_bad_hosts(tmp_path, host_dir):
    from lensfinder.io import write_cube, write_table

    with pytest.raises(InputError, match="host_stamps"):
        sim.recipe_params("li2020")
    with pytest.raises(InputError, match="not found"):
        sim.simulate_shard("li2020", 2, 1, 0, params={"host_stamps": [str(tmp_path / "none")]}, progress=False)
    bad = np.ones((2, 101, 101), dtype=np.float32)
    bad[1, 3, 3] = np.nan
    index = pd.DataFrame({"object_id": ["a", "b"], "psf_fwhm_arcsec": 0.7, "pixel_scale_arcsec": 0.2,
                          "zeropoint_mag": 30.0, "lrg_li2020": [False, True]})
    write_cube(bad, tmp_path / "bad.fits", 0.2, 30.0)
    write_table(index, tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="row 1.*NaN"):
        sim.simulate_shard("li2020", 2, 1, 0, params={"host_stamps": [str(tmp_path / "bad.fits")]}, progress=False)
    write_cube(np.ones((2, 101, 101), dtype=np.float32), tmp_path / "plain.fits", 0.2, 30.0)
    write_table(index.assign(lrg_li2020=False), tmp_path / "plain.parquet")
    with pytest.raises(InputError, match="no usable stamp"):
        sim.simulate_shard("li2020", 2, 1, 0, params={"host_stamps": [str(tmp_path / "plain.fits")], "lens_fraction": 1.0},
                           progress=False)
