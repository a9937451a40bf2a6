"""Simulations in several bands: SED colours through filter curves, per-band PSF and noise, re-creation."""

import numpy as np
import pandas as pd
import pytest

from lensfinder.io import InputError, cube_bands, read_cube, read_table
from lensfinder.simulation.colours import HERBEL_BLUE, HERBEL_RED, sed_colours, template_fluxes
from lensfinder.simulation.recipes import recipe_params
from lensfinder.simulation.render import render_from_metadata
from lensfinder.simulation.shards import simulate_shard
from lensfinder.surveys.presets import get_preset

pytest.importorskip("skypy", reason="the colour simulation needs SkyPy's kcorrect templates")

GRI = ["g", "r", "i"]


def _colour(df, comp, blue, red):
    return -2.5 * np.log10(df[f"{comp}_amp_{blue}" if blue != "r" else f"{comp}_amp"].to_numpy(float)
                           / df[f"{comp}_amp_{red}" if red != "r" else f"{comp}_amp"].to_numpy(float))


@pytest.fixture(scope="module")
def skeleton_gri():
    return simulate_shard("skeleton", 48, 7, 0, params={"bands": GRI}, progress=False)


def test_detection_band_is_bit_identical_to_a_one_band_shard(skeleton_gri):
    images, df = skeleton_gri
    r_only, _ = simulate_shard("skeleton", 48, 7, 0, progress=False)
    assert images.shape == (48, 3, 101, 101) and images.dtype == np.float32
    np.testing.assert_array_equal(images[:, 1], r_only)
    assert not np.array_equal(images[:, 0], images[:, 1])


def test_every_band_recreates_from_its_metadata_row(skeleton_gri):
    images, df = skeleton_gri
    for i in (0, 3, 17):
        for k, band in enumerate(GRI):
            np.testing.assert_array_equal(render_from_metadata(df.iloc[i], band=band), images[i, k])


def test_lenses_are_red_and_arcs_blue(skeleton_gri):
    """Lens galaxies near LRG colours (g-r ~ 1.2-1.9 at z 0.15-0.65), lensed sources blue."""
    _, df = skeleton_gri
    lens_gr = np.nanmedian(_colour(df, "lens_light", "g", "r"))
    source_gr = np.nanmedian(_colour(df[df.is_lens], "source", "g", "r"))
    assert 1.0 < lens_gr < 2.0
    assert -0.2 < source_gr < 0.7
    assert lens_gr - source_gr > 0.6
    # the parts of a source (knots, several sources) share its SED
    _, df = simulate_shard("sky", 64, 7, 0, params={"bands": GRI}, progress=False)
    lens = df[df.is_lens & (df.n_clump > 0)].iloc[0]
    ratio = np.array(lens["clump_amp_g"]) / np.array(lens["clump_amp"])
    np.testing.assert_allclose(ratio, lens["source_amp_g"] / lens["source_amp"], rtol=1e-12)


def test_envelopes_of_early_types_are_red_and_disks_blue():
    """The envelope of a double_sersic central galaxy (stored in the disk_* columns) is its old halo, as
    red as its core; a bulge_disk's disk is blue (docs/simulation.md, Bands). The envelopes had taken a
    disk's blue SED: red-core, blue-halo ellipticals in both classes of `sky` and `broad`."""
    _, df = simulate_shard("sky", 96, 3, 0, params={"bands": GRI}, progress=False)
    colour = {}
    for model in ("double_sersic", "bulge_disk"):
        rows = df[(df["lens_light_model"] == model) & df["disk_amp"].notna() & (df["disk_amp"] > 0)]
        assert len(rows) > 5
        colour[model] = (np.median(_colour(rows, "lens_light", "g", "r")), np.median(_colour(rows, "disk", "g", "r")))
    core, envelope = colour["double_sersic"]
    assert envelope > 1.0 and abs(envelope - core) < 0.25
    bulge, disk = colour["bulge_disk"]
    assert bulge - disk > 0.4


def test_per_band_psf_and_noise_follow_the_preset(skeleton_gri):
    _, df = skeleton_gri
    kids = get_preset("kids")
    g, r, i = (kids.band(b) for b in GRI)
    ratio = df["sky_sigma_i"] / df["sky_sigma"]
    np.testing.assert_allclose(ratio, 10 ** (0.4 * (r.depth_mag_5sigma - i.depth_mag_5sigma)))
    fwhm_g = df["psf_fwhm_arcsec_g"] / df["psf_fwhm_arcsec"] / (g.psf_fwhm_arcsec / r.psf_fwhm_arcsec)
    assert fwhm_g.between(0.92, 1.08).all() and fwhm_g.std() > 0
    assert (df["image_seed_g"] != df["image_seed"]).all() and (df["image_seed_g"] != df["image_seed_i"]).all()
    # the i band is shallower: its noise is larger in the image corners
    images, _ = skeleton_gri
    corner = images[:, :, :10, :10].std(axis=(2, 3))
    assert np.median(corner[:, 2] / corner[:, 1]) > 2.0



def test_each_band_has_the_mock_surveys_gain():
    """Electrons per count per band as the mock survey's tiles have them (the sky's counts over the sky's
    variance): an object's Poisson noise grows in the shallow i band with its brighter sky."""
    from lensfinder.surveys.mock.sky import background_noise

    images, df = simulate_shard("skeleton", 8, 7, 0, params={"bands": GRI, "gain": 30.0}, progress=False)
    kids = get_preset("kids")
    mock = {b: background_noise(kids.band(b).depth_mag_5sigma, kids.band(b).sky_mag_arcsec2, 0.1, 0.2, 30.0)[1]
            for b in GRI}
    for b in ("g", "i"):
        np.testing.assert_allclose(df[f"gain_{b}"] / df["gain"], mock[b] / mock["r"], rtol=1e-9)
    assert (df["gain_i"] < df["gain"] / 4).all() and (df["gain_g"] < df["gain"] / 2).all()
    # the i band's noise: sky and the objects' own Poisson term with the i band's gain
    noiseless = np.stack([render_from_metadata(row, band="i") for row in df.assign(noiseless=True).to_dict("records")])
    bright = noiseless > 20 * df["sky_sigma_i"].to_numpy()[:, None, None]
    residual = (images[:, 2] - noiseless)[bright]
    expected = np.sqrt(df["sky_sigma_i"].to_numpy()[:, None, None] ** 2
                       + noiseless / df["gain_i"].to_numpy()[:, None, None])[bright]
    assert bright.sum() > 200 and np.std(residual / expected) == pytest.approx(1.0, abs=0.1)


def test_band_depths_scatter_per_image_on_their_own_stream(skeleton_gri):
    images, plain = skeleton_gri
    scattered_images, df = simulate_shard("skeleton", 48, 7, 0, params={"bands": GRI, "band_depth_scatter_mag": 0.5},
                                          progress=False)
    kids = get_preset("kids")
    r, i = kids.band("r"), kids.band("i")
    offset = 2.5 * np.log10(df["sky_sigma_i"] / df["sky_sigma"]) - (r.depth_mag_5sigma - i.depth_mag_5sigma)
    assert offset.between(-0.5, 0.5).all() and offset.std() > 0.2  # uniform in +-0.5: rms 0.29
    g_offset = 2.5 * np.log10(df["sky_sigma_g"] / df["sky_sigma"])
    assert not np.allclose(g_offset, g_offset.iloc[0]) and not np.allclose(g_offset, offset)  # per band
    # the colours, the seeds and the detection band do not move; only the other bands' noise does
    amp_columns = [c for c in plain.columns if "_amp" in c or c.startswith("image_seed")]
    assert df[amp_columns].equals(plain[amp_columns])
    np.testing.assert_array_equal(scattered_images[:, 1], images[:, 1])
    assert not np.array_equal(scattered_images[:, 2], images[:, 2])
    for k, band in enumerate(GRI):
        np.testing.assert_array_equal(render_from_metadata(df.iloc[5], band=band), scattered_images[5, k])


def test_colours_scatter_per_component_on_their_own_stream(skeleton_gri):
    """`colour_scatter_mag`: every component's colours move by a Gaussian offset (the parts of a source
    together), the detection band, the noise and the rest of the colour draws stay, rows re-create."""
    images, plain = skeleton_gri
    scattered_images, df = simulate_shard("skeleton", 48, 7, 0, params={"bands": GRI, "colour_scatter_mag": 0.2},
                                          progress=False)
    np.testing.assert_array_equal(scattered_images[:, 1], images[:, 1])
    assert df["sky_sigma_i"].equals(plain["sky_sigma_i"]) and df["image_seed_g"].equals(plain["image_seed_g"])
    moved = []
    for comp in ("lens_light", "source"):
        for band, ref in (("g", "r"), ("r", "i")):
            shift = _colour(df, comp, band, ref) - _colour(plain, comp, band, ref)
            moved.append(shift[np.isfinite(shift)])
    moved = np.concatenate(moved)
    assert 0.12 < moved.std() < 0.3 and abs(moved.mean()) < 0.06 and (np.abs(moved) > 1e-6).all()
    for k, band in enumerate(GRI):
        np.testing.assert_array_equal(render_from_metadata(df.iloc[5], band=band), scattered_images[5, k])
    again, _ = simulate_shard("skeleton", 48, 7, 0, params={"bands": GRI, "colour_scatter_mag": 0.2}, progress=False)
    np.testing.assert_array_equal(again, scattered_images)


def test_field_galaxies_take_the_colours_they_are_drawn_with():
    """`field_blue_fraction`: the drawer's red or blue choice of each field galaxy reaches its SED."""
    medians = {}
    for fraction in (0.0, 1.0):
        _, df = simulate_shard("broad", 24, 7, 0, params={"bands": GRI, "field_galaxies": [2, 2],
                                                           "field_blue_fraction": fraction}, progress=False)
        lenses = df[df.is_lens]  # broad lenses have no satellites: their extras are the field galaxies
        assert (np.concatenate(lenses["extra_blue"].to_numpy()) == fraction).all()
        g, r = (np.concatenate(lenses[c].to_numpy()) for c in ("extra_amp_g", "extra_amp"))
        medians[fraction] = np.median(-2.5 * np.log10(g / r))
    assert medians[0.0] > 1.1 and medians[0.0] - medians[1.0] > 0.3
    # satellites too (`satellite_blue_fraction`), and group members are red
    _, df = simulate_shard("sky", 40, 7, 0, params={"bands": GRI, "lens_fraction": 0.0, "field_galaxies": [0, 0],
                                                     "negative_mix": {"satellites": 0.5, "group": 0.5},
                                                     "satellite_blue_fraction": 1.0}, progress=False)
    for kind, blue in (("satellites", 1.0), ("group", 0.0)):
        rows = df[df.kind == kind]
        assert len(rows) and (np.concatenate(rows["extra_blue"].to_numpy()) == blue).all()
        g, r = (np.concatenate(rows[c].to_numpy()) for c in ("extra_amp_g", "extra_amp"))
        gr = np.median(-2.5 * np.log10(g / r))
        assert gr < 1.0 if blue else gr > 1.1


def test_broad_default_scatters_depths_and_paper_recipes_do_not():
    assert recipe_params("broad").band_depth_scatter_mag == 0.5
    from lensfinder.simulation.recipes import RECIPES

    assert all("band_depth_scatter_mag" not in RECIPES[name] for name in RECIPES if name != "broad")
    assert recipe_params("skeleton").band_depth_scatter_mag == 0 == recipe_params("sky").band_depth_scatter_mag


def test_passive_rings_are_smooth_and_red_star_forming_rings_knotty_and_blue():
    images, df = simulate_shard("broad", 40, 5, 0, params={"bands": GRI, "lens_fraction": 0.0,
                                "negative_mix": {"ring": 0.5, "passive_ring": 0.5}}, progress=False)
    assert set(df["kind"]) == {"ring", "passive_ring"}

    def blob_g_r(row):
        return -2.5 * np.log10(np.sum(row["blob_amp_g"]) / np.sum(row["blob_amp"]))

    for _, row in df.iterrows():
        bulge = -2.5 * np.log10(row["lens_light_amp_g"] / row["lens_light_amp"])
        if row["kind"] == "passive_ring":  # many overlapping wide blobs, as red as an early-type bulge
            assert len(row["blob_amp"]) >= 80 and np.min(row["blob_sigma"]) >= 0.12
            assert blob_g_r(row) > 1.1 and abs(blob_g_r(row) - bulge) < 0.6
        else:
            assert len(row["blob_amp"]) <= 60 and blob_g_r(row) < 1.0
    g_r = df.apply(blob_g_r, axis=1).groupby(df["kind"]).median()
    assert g_r["passive_ring"] - g_r["ring"] > 0.4
    for i in (0, 1, 2):
        for k, band in enumerate(GRI):
            np.testing.assert_array_equal(render_from_metadata(df.iloc[i], band=band), images[i, k])


def test_sed_colours_against_skypy_directly():
    """The interpolated template grid gives SkyPy's magnitudes to < 0.01 mag."""
    import warnings

    from astropy.cosmology import Planck18

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from skypy.galaxies.spectrum import dirichlet_coefficients, kcorrect

    filters = ("sdss2010-r", "sdss2010-g", "sdss2010-i")
    assert template_fluxes(filters).shape[1:] == (5, 3)
    for population, z in ((HERBEL_RED, 0.4), (HERBEL_BLUE, 1.5)):
        c = dirichlet_coefficients(np.full(3, z), population[0], population[1], weight=population[2])
        c = c / c.sum(axis=1, keepdims=True)
        mags = kcorrect.apparent_magnitudes(c, np.full(3, z), list(filters), Planck18)
        for k in range(3):
            np.testing.assert_allclose(sed_colours(c[k], z, filters, 0), mags[k] - mags[k, 0], atol=0.01)


def test_paper_recipes_and_semireal_arcs_in_every_band(tmp_path):
    """he2020 (per image) renders g, r, i; a semi-real arc is painted in every band of a g, r, i host."""
    from lensfinder.io import write_cube, write_table

    images, df = simulate_shard("he2020", 6, 2, 0, params={"bands": ["r", "i"]}, progress=False)
    assert images.shape[:2] == (6, 2)
    hosts, meta = simulate_shard("skeleton", 4, 9, 0, params={"lens_fraction": 0.0, "bands": GRI,
                                 "negative_mix": {"elliptical": 1.0}}, progress=False)
    write_cube(hosts, tmp_path / "T1.fits", 0.2, 30.0, bands=GRI)
    write_table(_index(meta), tmp_path / "T1.parquet")
    params = {"host_stamps": [str(tmp_path / "T1.fits")], "bands": GRI, "lens_fraction": 1.0}
    images, df = simulate_shard("li2020", 4, 1, 0, params=params, progress=False)
    assert images.shape == (4, 3, 101, 101)
    for k, band in enumerate(GRI):
        host = hosts[df["host_row"].to_numpy()][:, k]
        arc = images[:, k] - np.stack([np.rot90(h, r)[:, ::-1] if f else np.rot90(h, r) for h, r, f in
                                       zip(host, df["aug_rot90"], df["aug_flip"])])
        assert (arc.sum(axis=(1, 2)) > 0).all()
        np.testing.assert_array_equal(render_from_metadata(df.iloc[1], band=band), images[1, k])
    # a blue arc: more light in g than in i relative to the r band's arc
    assert np.median(df["source_amp_g"] / df["source_amp_i"]) > 0.7


def test_semireal_fill_noise_is_drawn_per_band(tmp_path):
    """The pixels a shift of the host stamp leaves empty are filled with noise from each band's own stream
    (aug_seed_{b}): one stream for every band gave g, r and i the same pattern there (correlation 1)."""
    from lensfinder.io import write_cube, write_table

    hosts, meta = simulate_shard("skeleton", 6, 9, 0, params={"lens_fraction": 0.0, "bands": GRI,
                                 "negative_mix": {"elliptical": 1.0}}, progress=False)
    write_cube(hosts, tmp_path / "T1.fits", 0.2, 30.0, bands=GRI)
    write_table(_index(meta), tmp_path / "T1.parquet")
    params = {"host_stamps": [str(tmp_path / "T1.fits")], "bands": GRI, "lens_fraction": 0.5,
              "aug_shift_pix": [3, 4]}
    images, df = simulate_shard("li2020", 16, 1, 0, params=params, progress=False)
    assert (df["aug_seed_g"] != df["aug_seed"]).all() and (df["aug_seed_g"] != df["aug_seed_i"]).all()
    filled = {b: np.concatenate([images[i, k, :, :int(s)].ravel() for i, s in enumerate(df["aug_shift_x_pix"])])
              for k, b in enumerate(GRI)}
    assert len(filled["r"]) >= 16 * 101 * 3
    assert abs(np.corrcoef(filled["g"], filled["r"])[0, 1]) < 0.2
    assert abs(np.corrcoef(filled["i"], filled["r"])[0, 1]) < 0.2
    for k, band in enumerate(GRI):
        np.testing.assert_array_equal(render_from_metadata(df.iloc[2], band=band), images[2, k])


def test_semireal_rows_carry_their_host_tiles_moffat_fits(tmp_path):
    """A semi-real row carries its host stamp's Moffat fits of every band (psf_moffat_fwhm_arcsec_{band},
    psf_moffat_beta_{band}, from the stamp index), lens and negative alike, NaN where the host has none, so
    that training matches its colour residual as scoring matches the survey's stamps; the images are the
    same bits as from an index without fits, which adds no column. In a mix, the simulated members' rows
    have none."""
    from lensfinder.io import write_cube, write_table
    from lensfinder.learning.residual import moffat_fit_columns
    from lensfinder.simulation.mix import simulate_mix_shard

    hosts, meta = simulate_shard("skeleton", 6, 9, 0, params={"lens_fraction": 0.0, "bands": GRI,
                                 "negative_mix": {"elliptical": 1.0}}, progress=False)
    index = _index(meta)
    write_cube(hosts, tmp_path / "plain.fits", 0.2, 30.0, bands=GRI)
    write_table(index, tmp_path / "plain.parquet")
    columns = moffat_fit_columns(GRI)
    fits = np.array([[0.6 + 0.05 * k + 0.1 * b, 2.5 + 0.2 * k + 0.5 * b][j] for k in range(6) for b in range(3)
                     for j in range(2)]).reshape(6, 6)
    fits[4] = np.nan  # a host tile without fits
    write_cube(hosts, tmp_path / "fits.fits", 0.2, 30.0, bands=GRI)
    write_table(index.assign(**{c: fits[:, k] for k, c in enumerate(columns)}), tmp_path / "fits.parquet")

    def shard(cube, **more):
        params = {"host_stamps": [str(tmp_path / cube)], "bands": GRI, "lens_fraction": 0.5, "disk_fraction": 0.0}
        return simulate_shard("li2020", 24, 3, 0, params={**params, **more}, progress=False)

    plain_images, plain = shard("plain.fits")
    images, df = shard("fits.fits")
    np.testing.assert_array_equal(images, plain_images)
    assert not set(columns) & set(plain.columns)
    pd.testing.assert_frame_equal(df.drop(columns=columns).drop(columns="host_file"),
                                  plain.drop(columns="host_file"))
    np.testing.assert_array_equal(df[columns].to_numpy(), fits[df["host_row"].to_numpy()])
    assert df["is_lens"].any() and (~df["is_lens"]).any() and (df["host_row"] == 4).any()
    assert np.isfinite(df[columns].to_numpy()).all(axis=1).sum() == (df["host_row"] != 4).sum()
    lens = int(np.flatnonzero(df["is_lens"])[0])
    np.testing.assert_array_equal(render_from_metadata(df.iloc[lens], band="g"), images[lens, 0])

    _, mixed = simulate_mix_shard({"li2020": 0.5, "skeleton": 0.5}, 24, 3, 0, progress=False, params={
        "bands": GRI, "disk_fraction": 0.0},
        member_params={"li2020": {"host_stamps": [str(tmp_path / "fits.fits")]}})
    semi = mixed["recipe"] == "li2020"
    assert semi.any() and (~semi).any()
    assert np.isfinite(mixed.loc[semi, columns].to_numpy()).any() and mixed.loc[~semi, columns].isna().all(axis=None)


def test_semireal_arcs_take_their_hosts_seeing_and_zero_point_in_each_band(tmp_path):
    """A host stamp index gives each band's seeing and zero point (psf_fwhm_arcsec_{band},
    zeropoint_mag_{band}): the arcs of that band are painted with them, not with the detection band's
    seeing times the preset's ratio and the detection band's zero point."""
    from lensfinder.io import write_cube, write_table

    hosts, meta = simulate_shard("skeleton", 4, 9, 0, params={"lens_fraction": 0.0, "bands": GRI,
                                 "negative_mix": {"elliptical": 1.0}}, progress=False)
    index = _index(meta)
    seeing = {"g": np.array([0.95, 1.1, 1.3, 0.9]), "r": index["psf_fwhm_arcsec"].to_numpy(),
              "i": np.array([0.6, 0.62, 0.7, 0.66])}
    for name, extra in (("plain", {}), ("bands", {**{f"psf_fwhm_arcsec_{b}": seeing[b] for b in GRI},
                                                  "zeropoint_mag_g": 29.0, "zeropoint_mag_r": 30.0,
                                                  "zeropoint_mag_i": 30.5})):
        write_cube(hosts, tmp_path / f"{name}.fits", 0.2, 30.0, bands=GRI)
        write_table(index.assign(**extra), tmp_path / f"{name}.parquet")
    params = {"bands": GRI, "lens_fraction": 1.0}
    _, plain = simulate_shard("li2020", 6, 1, 0, params={**params, "host_stamps": [str(tmp_path / "plain.fits")]},
                              progress=False)
    images, df = simulate_shard("li2020", 6, 1, 0, params={**params, "host_stamps": [str(tmp_path / "bands.fits")]},
                                progress=False)
    rows = df["host_row"].to_numpy()
    for b in ("g", "i"):
        np.testing.assert_allclose(df[f"psf_fwhm_arcsec_{b}"], np.round(seeing[b][rows], 3))
        assert not np.allclose(plain[f"psf_fwhm_arcsec_{b}"], df[f"psf_fwhm_arcsec_{b}"])
    np.testing.assert_allclose(df["source_amp_g"], plain["source_amp_g"] * 10 ** (0.4 * (29.0 - 30.0)), rtol=1e-12)
    np.testing.assert_allclose(df["source_amp_i"], plain["source_amp_i"] * 10 ** (0.4 * (30.5 - 30.0)), rtol=1e-12)
    np.testing.assert_array_equal(df["source_amp"], plain["source_amp"])  # the detection band as it was
    np.testing.assert_array_equal(render_from_metadata(df.iloc[2], band="g"), images[2, 0])


def _index(meta):
    import pandas as pd

    return pd.DataFrame({"object_id": [f"o{k}" for k in range(len(meta))], "psf_fwhm_arcsec": meta["psf_fwhm_arcsec"],
                         "pixel_scale_arcsec": 0.2, "zeropoint_mag": 30.0, "lrg_li2020": True})


def test_bands_are_validated_against_the_preset():
    with pytest.raises(InputError, match="bands.*kids"):
        recipe_params("skeleton", {"bands": ["g", "z"]})
    with pytest.raises(InputError, match="detection band r"):
        recipe_params("skeleton", {"bands": ["g", "i"]})
    assert recipe_params("skeleton", {"bands": ["VIS", "Y"], "preset": "euclid"}).bands == ("VIS", "Y")


def test_an_r_band_host_cube_refuses_other_bands(tmp_path):
    from lensfinder.io import write_cube

    hosts, meta = simulate_shard("skeleton", 2, 9, 0, params={"lens_fraction": 0.0}, progress=False)
    write_cube(hosts, tmp_path / "T.fits", 0.2, 30.0)
    _index(meta).to_parquet(tmp_path / "T.parquet")
    with pytest.raises(InputError, match="T.fits: band 'g'"):
        simulate_shard("li2020", 2, 1, 0, params={"host_stamps": [str(tmp_path / "T.fits")], "bands": GRI,
                                                  "lens_fraction": 1.0}, progress=False)


def test_cli_writes_a_cube_with_its_bands(tmp_path):
    from lensfinder.cli import main

    assert main(["simulate", "--recipe", "sky", "--n", "8", "--out", str(tmp_path), "--set", "bands=[g,r,i]",
                 "--set", "preset=kids"]) == 0
    images, header = read_cube(tmp_path / "shard_000.fits")
    assert images.shape == (8, 3, 101, 101) and cube_bands(header) == ("g", "r", "i")
    meta = read_table(tmp_path / "shard_000.parquet")
    np.testing.assert_array_equal(render_from_metadata(meta.iloc[5], band="i"), images[5, 2])
