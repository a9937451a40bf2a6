"""The sky recipe (issue 13): confusers, sources, arc S/N, mixes, disjoint train/test streams and hosts, bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder import simulation as sim
from lensfinder.io import InputError, write_cube, write_table
from lensfinder.simulation.batch import BLOCK_SIZE
from lensfinder.simulation.mix import simulate_mix_shard
from lensfinder.simulation.recipes import NEGATIVE_KINDS, recipe_params
from lensfinder.simulation.render import render_images
from lensfinder.simulation.shards import draw_table

lenstronomy = pytest.importorskip("lenstronomy")
from simulation.lenstronomy_reference import lenstronomy_image  # noqa: E402


@pytest.fixture(scope="module")
def sky_shard():
    return sim.simulate_shard("sky", 200, seed=3, shard=1, set_name="train", progress=False)


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory):
    """A stamps-stage cube + index of 30 ellipticals on two tiles, all LRGs."""
    images, meta = sim.simulate_shard("skeleton", 30, 7, 0, params={"lens_fraction": 0.0,
                                      "negative_mix": {"elliptical": 1.0}}, progress=False)
    index = pd.DataFrame({
        "object_id": [f"KiDS-{i}" for i in range(30)], "tile": ["A"] * 15 + ["B"] * 15, "edge": False,
        "nan_fraction": 0.0, "psf_fwhm_arcsec": meta["psf_fwhm_arcsec"], "zeropoint_mag": 30.0,
        "pixel_scale_arcsec": 0.2, "lrg_li2020": True})
    path = tmp_path_factory.mktemp("stamps")
    write_cube(images, path / "t.fits", 0.2, 30.0)
    write_table(index, path / "t.parquet")
    return path


def test_sky_shard_has_the_confusers_faint_arcs_and_rerenders_from_parquet(sky_shard, tmp_path):
    images, meta = sky_shard
    assert meta["is_lens"].sum() == 100 and set(meta["kind"]) >= {"satellites", "irregular", "spiral", "merger"}
    lenses = meta[meta["is_lens"]]
    assert set(lenses["source_model"]) == {"sersic", "knots", "irregular", "multiple", "quasar"}
    assert set(meta["lens_light_model"]) >= {"sersic", "bulge_disk", "double_sersic"}
    assert lenses["theta_E"].between(0.5, 5.0).all() and (meta["psf_model"] == "moffat").all()
    assert meta["psf_beta"].between(2.5, 5.0).all()
    # arcs down to the detection limit, at the drawn S/N
    np.testing.assert_allclose(lenses["arc_snr"], lenses["arc_snr_target"], rtol=1e-4)
    assert lenses["arc_snr"].min() < 12 and lenses["arc_snr"].max() > 60
    assert meta.loc[~meta["is_lens"], "arc_snr"].isna().all()
    sat = meta[meta["kind"] == "satellites"]
    dist = [np.hypot(np.array(x) - cx, np.array(y) - cy) for x, y, cx, cy in
            zip(sat["extra_center_x"], sat["extra_center_y"], sat["lens_light_center_x"], sat["lens_light_center_y"])]
    assert any(((d >= 0.5) & (d <= 5.0)).any() for d in dist)
    meta.to_parquet(tmp_path / "m.parquet", index=False)
    back = pd.read_parquet(tmp_path / "m.parquet")
    for kind in ["lens", *[k for k in NEGATIVE_KINDS if k in set(meta["kind"])]]:
        i = int(np.flatnonzero(meta["kind"] == kind)[0])
        np.testing.assert_array_equal(sim.render_from_metadata(back.iloc[i]), images[i], err_msg=kind)
    for model in ("knots", "quasar", "multiple"):
        i = int(np.flatnonzero(meta["source_model"] == model)[0])
        np.testing.assert_array_equal(sim.render_from_metadata(back.iloc[i]), images[i], err_msg=model)


def test_images_do_not_depend_on_the_shard_size_and_streams_on_the_set_name(sky_shard):
    images, meta = sky_shard
    again, meta2 = sim.simulate_shard("sky", 30, seed=3, shard=1, set_name="train", progress=False)
    np.testing.assert_array_equal(again, images[:30])
    other, _ = sim.simulate_shard("sky", 30, seed=3, shard=1, set_name="test", progress=False)
    assert not np.array_equal(other, again)


@pytest.mark.parametrize("psf_model, knot_sigma", [("gaussian", [0.08, 0.15]), ("moffat", [0.0, 0.0])])
def test_sky_images_match_lenstronomy(psf_model, knot_sigma):
    """Every component (Sersics, extras, lensed knots and sources, quasar images, points and Gaussian
    blobs) against lenstronomy rendering the same rows (Gaussian blobs: GAUSSIAN profiles
    integrated over the pixels; points: lenstronomy's point sources)."""
    params = {"light_supersampling": 1, "psf_model": psf_model, "confuser_knot_sigma_arcsec": knot_sigma,
              "confuser_knots": [4, 10]}
    images, meta = sim.simulate_shard("sky", 32, 11, 0, params=params, noiseless=True, progress=False)
    assert (meta["point_amp"].map(len) > 0).any() and (meta["blob_amp"].map(len) > 0).any()
    for i in range(len(meta)):
        ref = lenstronomy_image(meta.iloc[i])
        assert np.max(np.abs(images[i] - ref)) < 1e-3 * ref.max(), (meta["kind"][i], meta["source_model"][i])


def test_knots_follow_galsim_random_knots():
    """Knot positions have GalSim's RandomKnots distribution, and a knotty galaxy renders as GalSim draws it."""
    galsim = pytest.importorskip("galsim")
    from scipy import stats

    from lensfinder.simulation.components import random_knots

    hlr, n = 0.8, 40
    _, dx, dy = random_knots(np.random.default_rng(2), np.full(100, n), np.full(100, hlr))
    theirs = np.concatenate([galsim.RandomKnots(n, half_light_radius=hlr, rng=galsim.BaseDeviate(s)).points
                             for s in range(1, 101)])
    assert stats.ks_2samp(np.hypot(dx, dy), np.hypot(*theirs.T)).pvalue > 1e-3
    params = {"lens_fraction": 0.0, "negative_mix": {"irregular": 1.0}, "psf_model": "gaussian",
              "confuser_knot_sigma_arcsec": [0.05, 0.15], "field_galaxies": [0, 0], "light_supersampling": 1}
    _, meta = sim.simulate_shard("sky", 3, 5, 0, params=params, noiseless=True, progress=False)
    for i in range(3):
        row = meta.iloc[i].copy()
        row["lens_light_amp"] = np.nan  # the knots alone
        ours = sim.render_from_metadata(row, noiseless=True)
        knots = galsim.Add([galsim.Gaussian(sigma=s, flux=a).shift(x, y) for a, x, y, s in
                            zip(row["blob_amp"], row["blob_center_x"], row["blob_center_y"], row["blob_sigma"])])
        ref = galsim.Convolve(knots, galsim.Gaussian(fwhm=row["psf_fwhm_arcsec"])).drawImage(
            nx=101, ny=101, scale=0.2).array
        # the difference is the PSF sampled at pixel centres (as every image here and lenstronomy do)
        assert np.abs(ours - ref).max() < 0.03 * ref.max()
        assert ours.sum() == pytest.approx(ref.sum(), rel=1e-5)


def test_quasar_images_match_lenstronomys_lens_equation_solver():
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LensModel.Solver.lens_equation_solver import LensEquationSolver

    from lensfinder.simulation.lensequation import point_images

    model = LensModel(["SIE", "SHEAR"])
    solver = LensEquationSolver(model)
    rng = np.random.default_rng(4)
    counts = []
    for _ in range(12):
        lens = dict(theta_E=rng.uniform(0.5, 3), e1=rng.uniform(-0.2, 0.2), e2=rng.uniform(-0.2, 0.2),
                    center_x=rng.uniform(-0.1, 0.1), center_y=rng.uniform(-0.1, 0.1),
                    gamma1=rng.uniform(-0.05, 0.05), gamma2=rng.uniform(-0.05, 0.05))
        bx, by = (lens[c] + rng.uniform(-0.15, 0.15) * lens["theta_E"] for c in ("center_x", "center_y"))
        x, y, mu = point_images(bx, by, lens)
        kw = [{k: lens[k] for k in ("theta_E", "e1", "e2", "center_x", "center_y")},
              {"gamma1": lens["gamma1"], "gamma2": lens["gamma2"]}]
        xr, yr = solver.image_position_from_source(bx, by, kw, min_distance=0.01, search_window=4 * lens["theta_E"],
                                                   precision_limit=1e-10, num_iter_max=100)
        order = np.argsort(-np.abs(model.magnification(xr, yr, kw)))
        assert len(x) == len(xr)
        np.testing.assert_allclose(np.c_[x, y], np.c_[xr, yr][order], atol=1e-5)
        np.testing.assert_allclose(mu, model.magnification(xr, yr, kw)[order], rtol=1e-4)
        counts.append(len(x))
    assert {2, 4} <= set(counts)
    # sources out to the edge of the multiply imaged region: counter-images demagnified next to the
    # lens centre, every one of them magnified 0.03 or more found
    faint = 0
    for _ in range(24):
        lens = dict(theta_E=rng.uniform(0.8, 3.5), e1=rng.uniform(-0.15, 0.15), e2=rng.uniform(-0.15, 0.15),
                    center_x=0.0, center_y=0.0, gamma1=rng.uniform(-0.05, 0.05), gamma2=rng.uniform(-0.05, 0.05))
        r, t = rng.uniform(0.6, 1.0) * lens["theta_E"], rng.uniform(0, 2 * np.pi)
        x, y, mu = point_images(r * np.cos(t), r * np.sin(t), lens)
        kw = [{k: lens[k] for k in ("theta_E", "e1", "e2", "center_x", "center_y")},
              {"gamma1": lens["gamma1"], "gamma2": lens["gamma2"]}]
        xr, yr = solver.image_position_from_source(r * np.cos(t), r * np.sin(t), kw, min_distance=0.01,
                                                   search_window=5 * lens["theta_E"], precision_limit=1e-10,
                                                   num_iter_max=100)
        mur = model.magnification(xr, yr, kw)
        for xi, yi, mi in zip(xr, yr, mur):
            if abs(mi) < 0.03:
                continue
            k = np.argmin(np.hypot(x - xi, y - yi))
            assert np.hypot(x[k] - xi, y[k] - yi) < 1e-5 and mu[k] == pytest.approx(mi, rel=1e-4)
            faint += abs(mi) < 0.3
    assert faint >= 3  # the test reaches the faint counter-images it is about


def test_mix_members_share_one_geometry_and_stay_the_images_they_draw_alone(host_dir):
    mix = {"li2020": 0.4, "he2020": 0.3, "sky": 0.3}
    params = {"host_stamps": [str(host_dir)]}
    images, meta = simulate_mix_shard(mix, 60, 1, 0, params, set_name="train", progress=False)
    assert images.shape == (60, 101, 101) and set(meta["recipe"]) == set(mix)
    assert (meta["pixel_scale_arcsec"] == 0.2).all() and meta["is_lens"].sum() == 30
    assert (meta.loc[meta["recipe"] == "li2020", "host_file"] != "").all()
    assert (meta.groupby("recipe")["is_lens"].sum() > 0).all()  # every member gives lenses and non-lenses
    assert meta.loc[meta["is_lens"], "arc_snr"].notna().all()
    for recipe in mix:
        i = int(np.flatnonzero(meta["recipe"] == recipe)[0])
        np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i]), images[i])
    alone, _ = sim.simulate_shard("he2020", 60, 1, 0, {"stamp_size": 101, "pixel_scale_arcsec": 0.2}, progress=False)
    he = (meta["recipe"] == "he2020").to_numpy()
    np.testing.assert_array_equal(images[he], alone[he])
    with pytest.raises(InputError, match="nonsense"):
        simulate_mix_shard({"nonsense": 1.0}, 2, 1, 0, progress=False)


def test_members_drawn_by_block_take_streams_of_their_own():
    """Two members that draw by block (broad, skeleton) used the set's generators alike, so the k-th
    elliptical of each took the same draws (28 of 54 shared their centre offset); now each member's
    streams are keyed by its recipe. A lone per-block member keeps the set's, as when drawn alone."""
    mix = {"broad": 0.5, "skeleton": 0.5}
    images, meta = simulate_mix_shard(mix, 512, 13, 0, set_name="train", progress=False)
    ell = meta[meta["kind"] == "elliptical"]
    offsets = {name: np.hypot(part["lens_light_center_x"].astype(float),
                              part["lens_light_center_y"].astype(float)).to_numpy()
               for name, part in ell.groupby("recipe")}
    assert min(len(v) for v in offsets.values()) > 20
    shared = [np.isclose(offsets["skeleton"], r, rtol=1e-9, atol=0).any() for r in offsets["broad"]]
    assert not any(shared)
    for recipe in mix:
        i = int(np.flatnonzero(meta["recipe"] == recipe)[0])
        np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i]), images[i])
    lone, lone_meta = simulate_mix_shard({"he2020": 0.5, "broad": 0.5}, 64, 13, 0,
                                         {"stamp_size": 101, "pixel_scale_arcsec": 0.2}, set_name="train",
                                         progress=False)
    alone, _ = sim.simulate_shard("broad", 64, 13, 0, set_name="train", progress=False)
    broad = (lone_meta["recipe"] == "broad").to_numpy()
    np.testing.assert_array_equal(lone[broad], alone[broad])


def test_member_params_reach_their_member_alone(host_dir):
    """simulation.member_params: neighbours for `broad` beside li2020, which cannot draw them. Every
    broad image gets them, the li2020 images stay those of the mix without them, and each image
    re-creates from its row; a key one member lacks, or one the mix shares, names the member and key."""
    mix = {"li2020": 0.5, "broad": 0.5}
    params = {"host_stamps": [str(host_dir)]}
    far = {"field_galaxies": [2, 2], "field_min_distance_arcsec": 6.0}
    plain, plain_meta = simulate_mix_shard(mix, 40, 1, 0, params, set_name="train", progress=False)
    images, meta = simulate_mix_shard(mix, 40, 1, 0, params, set_name="train", progress=False,
                                      member_params={"broad": far})
    assert meta["recipe"].tolist() == plain_meta["recipe"].tolist()
    broad, li = (meta["recipe"] == "broad").to_numpy(), (meta["recipe"] == "li2020").to_numpy()
    assert broad.sum() > 5 and li.sum() > 5

    def far_extras(m):
        return np.array([int((np.hypot(np.asarray(x, float), np.asarray(y, float)) >= 6.0).sum())
                         for x, y in zip(m["extra_center_x"], m["extra_center_y"])])

    assert (far_extras(meta[broad]) >= 2).all() and (far_extras(plain_meta[broad]) < 2).any()
    np.testing.assert_array_equal(images[li], plain[li])
    assert (far_extras(meta[li]) == 0).all()
    for i in (int(np.flatnonzero(broad)[0]), int(np.flatnonzero(li)[0])):
        np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i]), images[i])

    with pytest.raises(InputError, match="field_galaxies"):  # in params it reaches li2020 too
        simulate_mix_shard(mix, 4, 1, 0, {**params, **far}, progress=False)
    with pytest.raises(InputError, match="sky: not simulated here"):
        simulate_mix_shard(mix, 4, 1, 0, params, progress=False, member_params={"sky": far})
    with pytest.raises(InputError, match="broad: stamp_size"):
        simulate_mix_shard(mix, 4, 1, 0, params, progress=False, member_params={"broad": {"stamp_size": 61}})
    with pytest.raises(InputError, match="bands: every member"):
        simulate_mix_shard({"broad": 1, "skeleton": 1}, 4, 1, 0, progress=False,
                           member_params={"broad": {"bands": ["g", "r", "i"]}})


def test_cli_mix(tmp_path):
    from lensfinder.cli import main
    from lensfinder.io import read_table

    assert main(["simulate", "--mix", "sky=1", "skeleton=1", "--n", "8", "--out", str(tmp_path)]) == 0
    assert set(read_table(tmp_path / "shard_000.parquet")["recipe"]) <= {"sky", "skeleton"}
    assert main(["simulate", "--mix", "sky", "--n", "2", "--out", str(tmp_path / "bad")]) == 2
    assert main(["simulate", "--mix", "sky=1", "skeleton=1", "--n", "8", "--out", str(tmp_path / "own"),
                 "--member-set", "skeleton:lens_fraction=1", "--member-set", "sky:lens_fraction=0"]) == 0
    own = read_table(tmp_path / "own" / "shard_000.parquet")
    assert own.groupby("recipe")["is_lens"].all().to_dict() == {"skeleton": True, "sky": False}
    assert main(["simulate", "--recipe", "skeleton", "--n", "4", "--out", str(tmp_path / "one"), "--set",
                 "lens_fraction=0", "--member-set", "skeleton:lens_fraction=1"]) == 0  # over --set
    assert read_table(tmp_path / "one" / "shard_000.parquet")["is_lens"].all()
    for bad in (["--member-set", "sky:lens_fraction=1"],  # not --recipe (skeleton)
                ["--mix", "sky=1", "--member-set", "lens_fraction=1"],  # no member named
                ["--mix", "sky=1", "--member-set", "skeleton:lens_fraction=1"]):  # not in the mix
        assert main(["simulate", "--n", "2", "--out", str(tmp_path / "bad"), *bad]) == 2


def test_train_and_test_sets_share_no_stream_image_or_host(host_dir):
    """The default sets (train seed 1 in 2 shards, test seed 2) draw disjoint images; semi-real
    sets on the two sides of host_holdout draw disjoint hosts."""
    for recipe in ("sky", "he2020"):
        p = recipe_params(recipe)
        train = pd.concat([draw_table(p, 1, shard, np.arange(100), "train") for shard in (0, 1)])
        test = draw_table(p, 2, 0, np.arange(100), "test")
        assert not set(train["image_seed"]) & set(test["image_seed"]), recipe
        assert train["image_seed"].nunique() == len(train)
        assert not set(train["source_center_x"].dropna()) & set(test["source_center_x"].dropna())
    params = {"host_stamps": [str(host_dir)], "host_holdout": 0.4}
    sides = {}
    for split in ("train", "test"):
        _, meta = sim.simulate_shard("li2020", 40, 1 if split == "train" else 2, 0,
                                     params={**params, "host_split": split}, progress=False)
        assert (meta["host_split"] == split).all()
        sides[split] = set(meta["host_object_id"])
    assert sides["train"] and sides["test"] and not sides["train"] & sides["test"]
    _, by_tile = sim.simulate_shard("li2020", 20, 3, 0, progress=False,
                                    params={**params, "host_holdout": 0.5, "host_split": "test", "host_split_by": "tile"})
    assert by_tile["host_object_id"].map(lambda s: int(s.split("-")[1]) // 15).nunique() == 1
    with pytest.raises(InputError, match="no usable stamp"):
        sim.simulate_shard("li2020", 4, 1, 0, params={**params, "host_holdout": 1e-9, "host_split": "test"},
                           progress=False)


def test_papers_recipes_take_the_new_parts_only_when_asked():
    _, plain = sim.simulate_shard("he2020", 40, 3, 0, progress=False)
    assert (plain["psf_model"] == "gaussian").all() and set(plain["kind"]) <= {"lens", "elliptical",
                                                                                "elliptical_pair", "elongated",
                                                                                "bulge_disk"}
    assert not plain["extra_amp"].map(len).any() and not plain["blob_amp"].map(len).any()
    assert plain.loc[plain["is_lens"], "arc_snr"].gt(0).all() and plain.loc[~plain["is_lens"], "arc_snr"].isna().all()
    images, opted = sim.simulate_shard("he2020", 40, 3, 0, progress=False, params={
        "negative_mix": {"satellites": 1, "irregular": 1, "star": 1}, "psf_model": "moffat",
        "source_brightness": "arc_snr"})
    assert set(opted.loc[~opted["is_lens"], "kind"]) == {"satellites", "irregular", "star"}
    assert (opted["psf_model"] == "moffat").all()
    lenses = opted[opted["is_lens"]]
    np.testing.assert_allclose(lenses["arc_snr"], lenses["arc_snr_target"], rtol=1e-4)
    i = int(np.flatnonzero(opted["kind"] == "satellites")[0])
    np.testing.assert_array_equal(sim.render_from_metadata(opted.iloc[i]), images[i])
    with pytest.raises(InputError, match="source_mix"):
        recipe_params("he2020", {"source_mix": {"quasar": 1.0}})
    with pytest.raises(InputError, match="draw_scheme"):
        recipe_params("sky", {"lens_model": "he2020"})


def test_semireal_arcs_scaled_to_an_arc_snr(host_dir):
    params = {"host_stamps": [str(host_dir)], "arc_brightness": "arc_snr", "arc_snr": [8.0, 50.0]}
    images, meta = sim.simulate_shard("li2020", 12, 2, 0, params=params, progress=False)
    lenses = meta[meta["is_lens"]]
    np.testing.assert_allclose(lenses["arc_snr"], lenses["arc_snr_target"], rtol=1e-3)
    i = int(lenses.index[0])
    np.testing.assert_array_equal(sim.render_from_metadata(meta.iloc[i]), images[i])


def test_arc_snr_is_the_matched_filter_snr_of_the_lensed_light():
    _, meta = sim.simulate_shard("he2020", 6, 5, 0, params={"light_supersampling": 1}, progress=False)
    row = meta[meta["is_lens"]].iloc[[0]]
    total = render_images(row, noiseless=True)[0].astype(float)
    arc = total - render_images(row.assign(source_amp=0.0), noiseless=True)[0]
    var = row["sky_sigma"].iloc[0] ** 2 + np.maximum(total, 0) / row["gain"].iloc[0]
    assert row["arc_snr"].iloc[0] == pytest.approx(np.sqrt((arc**2 / var).sum()), rel=1e-4)


@pytest.mark.parametrize("moffat", [0.0, 1.0])
def test_arc_visible_snr_counts_the_pixels_where_the_arc_outshines_the_rest(moffat):
    """`arc_visible_snr`: the arc S/N summed where the lensed light is brighter than everything else
    (Gaussian PSFs in the compiled kernel, Moffat by FFT); 0 for an arc buried in its lens; NaN for
    negatives."""
    params = {"light_supersampling": 1, "psf_moffat_fraction": moffat, "lens_fraction": 0.7}
    _, meta = sim.simulate_shard("skeleton", 40, 5, 0, params=params, progress=False)
    lenses = meta[meta["is_lens"]].reset_index(drop=True)
    assert meta.loc[~meta["is_lens"], "arc_visible_snr"].isna().all()
    assert (lenses["psf_model"] == ("moffat" if moffat else "gaussian")).all()
    total = render_images(lenses, noiseless=True).astype(float)
    rest = render_images(lenses.assign(source_amp=0.0), noiseless=True).astype(float)
    arc = total - rest
    var = (lenses["sky_sigma"].to_numpy() ** 2)[:, None, None] + np.maximum(total, 0) / lenses["gain"].to_numpy()[:, None, None]
    expected = np.sqrt(np.where(arc > rest, arc**2 / var, 0.0).sum(axis=(1, 2)))
    np.testing.assert_allclose(lenses["arc_visible_snr"], expected, rtol=1e-3, atol=1e-3)
    assert (lenses["arc_visible_snr"] <= lenses["arc_snr"] * (1 + 1e-6)).all()
    buried = lenses.assign(source_amp=lenses["source_amp"] * 1e-4, arc_snr_target=np.nan).iloc[[0]]
    _, _, visible = render_images(buried, noiseless=True, with_arc_snr=True)
    assert visible[0] == 0.0


def test_confusers_take_the_colours_of_their_kind():
    """Ellipticals red, irregulars and their knots blue (lensfinder.simulation.colours); bands rendered apart."""
    from lensfinder.simulation.batch import draw_block
    from lensfinder.simulation.colours import add_band_columns
    from lensfinder.surveys.presets import get_preset

    p = recipe_params("sky", {"lens_fraction": 0.0, "negative_mix": {"elliptical": 1.0, "irregular": 1.0},
                              "lens_light_mix": {"sersic": 1.0}, "field_galaxies": [0, 0]})
    meta = add_band_columns(draw_block(p, 1, 0, np.arange(BLOCK_SIZE)), ("g", "r", "i"), get_preset("kids"))
    ell = meta[meta["kind"] == "elliptical"]
    irr = meta[meta["kind"] == "irregular"]
    g_r = lambda df, c: -2.5 * np.log10(np.concatenate([np.atleast_1d(v) for v in df[f"{c}_amp_g"]])
                                        / np.concatenate([np.atleast_1d(v) for v in df[f"{c}_amp"]]))
    assert np.median(g_r(ell, "lens_light")) > np.median(g_r(irr, "lens_light")) + 0.4
    assert np.median(g_r(irr[irr["blob_amp"].map(len) > 0], "blob")) < 1.0
    rows = ell.iloc[:3].assign(noiseless=True)
    r_band, g_band = render_images(rows), render_images(rows, band="g")
    assert (g_band.sum(axis=(1, 2)) < r_band.sum(axis=(1, 2))).all()  # red galaxies are fainter in g
    with pytest.raises(InputError, match="band 'z'"):
        render_images(rows, band="z")


def test_semireal_hosts_from_cubes_of_several_bands(host_dir, tmp_path):
    """Arcs are painted on the detection band (r) of multi-band stamp cubes; tile images may be {tile}.r.fits."""
    from lensfinder.io import read_cube
    from lensfinder.simulation.epsf import find_tile_files
    from lensfinder.simulation.semireal import host_stamp

    r_band, _ = read_cube(host_dir / "t.fits", memmap=False)
    cube = np.stack([0.5 * r_band, r_band, 1.5 * r_band], axis=1)
    write_cube(cube, tmp_path / "t.fits", 0.2, 30.0, bands=("g", "r", "i"))
    write_table(pd.read_parquet(host_dir / "t.parquet"), tmp_path / "t.parquet")
    np.testing.assert_array_equal(host_stamp(str(tmp_path / "t.fits"), 3), r_band[3])
    _, meta = sim.simulate_shard("li2020", 6, 1, 0, params={"host_stamps": [str(tmp_path)]}, progress=False)
    assert meta["is_lens"].sum() == 3 and meta.loc[meta["is_lens"], "arc_snr"].gt(0).all()
    (tmp_path / "T1.r.fits").touch()
    (tmp_path / "T1.parquet").touch()
    assert find_tile_files("T1", [str(tmp_path / "T1.r.fits")], [str(tmp_path)])[0].endswith("T1.r.fits")


def test_broad_recipe_draws_what_it_declares():
    """The default recipe: theta_E 0.8-3.5", sources up to theta_E off centre with knots, its confusers."""
    from lensfinder.simulation.shards import draw_table

    p = recipe_params("broad")
    meta = draw_table(p, 4, 0, np.arange(512))
    lenses = meta[meta["is_lens"]]
    assert lenses["theta_E"].between(0.8, 3.5).all()
    offset = np.hypot(lenses["source_center_x"] - lenses["center_x"], lenses["source_center_y"] - lenses["center_y"])
    assert (offset / lenses["theta_E"]).max() > 0.7 and (offset <= lenses["theta_E"] + 1e-9).all()
    assert set(lenses["source_model"]) == {"sersic", "knots", "irregular"}
    assert set(meta.loc[~meta["is_lens"], "kind"]) == set(p.negative_mix)


@pytest.mark.parametrize("recipe", ["broad", "skeleton"])
def test_source_offsets_follow_their_weighting(recipe):
    """`source_offset_weighting`: area puts the sources uniformly over the placement disk (offset^2
    uniform), magnification uniformly in radius (the SIS magnification bias), in the vectorised
    source mix (broad) and the per-image draw (skeleton) alike; anything else names the key."""
    from scipy.stats import kstest

    from lensfinder.simulation.shards import draw_table

    fractions = {}
    for weighting in ("area", "magnification"):
        p = recipe_params(recipe, {"source_offset_weighting": weighting, "lens_fraction": 1.0})
        lenses = draw_table(p, 5, 0, np.arange(600))
        offset = np.hypot(lenses["source_center_x"] - lenses["center_x"],
                          lenses["source_center_y"] - lenses["center_y"])
        fractions[weighting] = (offset / (p.source_offset_theta_E * lenses["theta_E"])).to_numpy()
    assert kstest(fractions["area"] ** 2, "uniform").pvalue > 1e-3
    assert kstest(fractions["magnification"], "uniform").pvalue > 1e-3
    assert kstest(fractions["area"], "uniform").pvalue < 1e-6  # the two are told apart
    assert np.median(fractions["magnification"]) < np.median(fractions["area"]) - 0.1
    with pytest.raises(InputError, match="source_offset_weighting"):
        recipe_params(recipe, {"source_offset_weighting": "volume"})


def test_knotty_satellites_are_blue_with_knots_around_them():
    """`satellite_knot_fraction`: blue satellites get knots of star formation (as the knotty lensed
    sources do), around themselves; red ones never; off, the satellites have none."""
    from lensfinder.simulation.shards import draw_table

    params = {"lens_fraction": 0.0, "negative_mix": {"satellites": 1.0}, "satellite_knot_fraction": 1.0}
    knotty = draw_table(recipe_params("broad", params), 6, 0, np.arange(300))
    n_blobs, n_blue = knotty["blob_amp"].map(len), knotty["extra_blue"].map(np.sum)
    assert (n_blobs[n_blue == 0] == 0).all() and (n_blobs[n_blue > 0] >= 10).all() and (n_blue == 0).any()
    p = recipe_params("broad", params)
    for _, row in knotty[n_blue > 0].head(40).iterrows():
        col = {key: np.asarray(row[key], dtype=float) for key in ("extra_blue", "extra_center_x", "extra_center_y",
                                                                   "extra_R_sersic", "blob_center_x", "blob_center_y",
                                                                   "blob_sigma")}
        blue = col["extra_blue"] > 0
        sx, sy, R = col["extra_center_x"][blue], col["extra_center_y"][blue], col["extra_R_sersic"][blue]
        d = np.hypot(col["blob_center_x"][:, None] - sx, col["blob_center_y"][:, None] - sy) / R
        assert d.min(axis=1).max() < 6.0  # every knot within a few half-light radii of a blue satellite
        assert p.knot_sigma_arcsec[0] <= col["blob_sigma"].min() <= col["blob_sigma"].max() <= p.knot_sigma_arcsec[1]
    plain = draw_table(recipe_params("broad", {**params, "satellite_knot_fraction": 0.0}), 6, 0, np.arange(300))
    assert (plain["blob_amp"].map(len) == 0).all()


def test_field_galaxies_keep_their_distance_and_sizes():
    """Neighbours in every stamp (`field_*`): at least `field_min_distance_arcsec` from the centre,
    inside the stamp, with the radii asked; a distance the stamp cannot hold names the key."""
    from lensfinder.simulation.shards import draw_table

    params = {"field_galaxies": [1, 3], "field_mag": [17.0, 23.0], "field_R_sersic_arcsec": [0.2, 1.5],
              "field_min_distance_arcsec": 3.0}
    meta = draw_table(recipe_params("broad", params), 4, 0, np.arange(256))
    lenses = meta[meta["is_lens"]]  # broad lenses have no satellites: their extras are the field galaxies
    x = np.concatenate(lenses["extra_center_x"].to_numpy())
    y = np.concatenate(lenses["extra_center_y"].to_numpy())
    R = np.concatenate(lenses["extra_R_sersic"].to_numpy())
    counts = lenses["extra_center_x"].map(len)
    assert counts.between(1, 3).all() and set(counts) == {1, 2, 3}
    assert np.hypot(x, y).min() >= 3.0 and np.abs(np.concatenate([x, y])).max() <= 50 * 0.2 - 0.5
    assert R.min() >= 0.2 and R.max() <= 1.5 and R.max() > 1.0
    near = draw_table(recipe_params("broad", {**params, "field_min_distance_arcsec": 0.0}), 4, 0, np.arange(256))
    lx = np.concatenate(near.loc[near["is_lens"], "extra_center_x"].to_numpy())
    ly = np.concatenate(near.loc[near["is_lens"], "extra_center_y"].to_numpy())
    assert np.hypot(lx, ly).min() < 3.0  # without the limit they fall anywhere
    with pytest.raises(InputError, match="field_min_distance_arcsec"):
        draw_table(recipe_params("broad", {**params, "field_min_distance_arcsec": 12.0}), 4, 0, np.arange(8))


def test_knotty_field_galaxies_are_blue_clumpy_irregulars_in_lenses_and_negatives():
    """`field_knot_fraction`: blue field galaxies of lenses and negatives alike become clumpy irregulars
    (`irregular_knot_fraction` of their light in `confuser_knots` knots round them); red ones never; off, no
    knots and the same field galaxies' light."""
    from lensfinder.simulation.lensing import sersic_total_flux
    from lensfinder.simulation.shards import draw_table

    params = {"lens_fraction": 0.5, "negative_mix": {"elliptical": 1.0}, "field_galaxies": [1, 2],
              "field_mag": [17.0, 23.0], "field_R_sersic_arcsec": [0.2, 1.5], "field_min_distance_arcsec": 3.0,
              "field_blue_fraction": 0.5, "field_knot_fraction": 1.0}
    p = recipe_params("broad", params)
    knotty = draw_table(p, 6, 0, np.arange(300))
    n_blobs, n_blue = knotty["blob_amp"].map(len), knotty["extra_blue"].map(np.sum)
    assert (n_blobs[n_blue == 0] == 0).all() and (n_blue == 0).any()
    for is_lens in (True, False):  # both classes get them: knots near a galaxy do not say lens
        part = knotty["is_lens"] == is_lens
        assert (n_blobs[part & (n_blue > 0)] >= p.confuser_knots[0] * n_blue[part & (n_blue > 0)]).all()
        assert (part & (n_blue > 0)).sum() > 20
    for _, row in knotty[n_blue > 0].head(40).iterrows():
        col = {key: np.asarray(row[key], dtype=float) for key in ("extra_blue", "extra_center_x", "extra_center_y",
                                                                   "extra_R_sersic", "extra_n_sersic", "extra_amp",
                                                                   "blob_center_x", "blob_center_y", "blob_amp")}
        blue = col["extra_blue"] > 0
        sx, sy, R = col["extra_center_x"][blue], col["extra_center_y"][blue], col["extra_R_sersic"][blue]
        d = np.hypot(col["blob_center_x"][:, None] - sx, col["blob_center_y"][:, None] - sy) / R
        assert d.min(axis=1).max() < 6.0  # every knot within a few half-light radii of a blue field galaxy
        if blue.sum() == 1:  # the knots' share of that galaxy's light is irregular_knot_fraction's
            disk = sersic_total_flux(col["extra_amp"], col["extra_R_sersic"], col["extra_n_sersic"])[blue].sum()
            share = col["blob_amp"].sum() / (col["blob_amp"].sum() + disk)
            assert p.irregular_knot_fraction[0] - 1e-9 <= share <= p.irregular_knot_fraction[1] + 1e-9
    plain = draw_table(recipe_params("broad", {**params, "field_knot_fraction": 0.0}), 6, 0, np.arange(300))
    assert (plain["blob_amp"].map(len) == 0).all()


def test_grand_design_spirals_have_continuous_logarithmic_arms(tmp_path):
    """`grand_design`: 1-4 smooth arms of 100-200 overlapping blobs each, on logarithmic spirals of the
    recorded pitch in the disk's plane, blue as `spiral`; images re-render from their rows."""
    from lenstronomy.Util.param_util import ellipticity2phi_q

    from lensfinder.simulation.colours import add_band_columns, component_classes
    from lensfinder.simulation.confusers import (GRAND_DESIGN_ARM_WIDTH, GRAND_DESIGN_BLOBS_PER_ARM,
                                                 GRAND_DESIGN_SIGMA_FLOOR_ARCSEC)
    from lensfinder.surveys.presets import get_preset

    p = recipe_params("broad", {"lens_fraction": 0.0, "negative_mix": {"grand_design": 1.0},
                                "field_galaxies": [0, 0]})
    meta = draw_table(p, 8, 0, np.arange(128))
    assert set(meta["kind"]) == {"grand_design"} and set(meta["spiral_arms"]) == {1, 2, 3, 4}
    assert meta["spiral_pitch_deg"].between(10.0, 30.0).all()
    for _, row in meta.iterrows():
        arms, n_blobs = int(row["spiral_arms"]), len(row["blob_amp"])
        assert arms * GRAND_DESIGN_BLOBS_PER_ARM[0] <= n_blobs <= arms * GRAND_DESIGN_BLOBS_PER_ARM[1]
        phi, q = ellipticity2phi_q(row["disk_e1"], row["disk_e2"])
        dx = np.asarray(row["blob_center_x"]) - row["disk_center_x"]
        dy = np.asarray(row["blob_center_y"]) - row["disk_center_y"]
        u, v = dx * np.cos(phi) + dy * np.sin(phi), (-dx * np.sin(phi) + dy * np.cos(phi)) / q
        r, theta = np.hypot(u, v), np.arctan2(v, u)
        assert (r / row["disk_R_sersic"]).min() >= 0.3 - 1e-9 and (r / row["disk_R_sersic"]).max() <= 2.5 + 1e-9
        # arms widen outward: sigma a fixed fraction of the radius, above a floor
        sigma = np.asarray(row["blob_sigma"])
        width = sigma[sigma > GRAND_DESIGN_SIGMA_FLOOR_ARCSEC] / r[sigma > GRAND_DESIGN_SIGMA_FLOOR_ARCSEC]
        assert sigma.min() >= GRAND_DESIGN_SIGMA_FLOOR_ARCSEC and width.size > 0
        assert GRAND_DESIGN_ARM_WIDTH[0] <= width.min() and np.ptp(width) < 1e-6 * width.mean()  # one per galaxy
        # along a logarithmic spiral theta - ln(r) / tan(pitch) is constant, one value per arm, 2 pi / arms apart
        phase = arms * (theta - np.log(r / row["disk_R_sersic"]) / np.tan(np.radians(row["spiral_pitch_deg"])))
        assert np.abs(np.exp(1j * phase).mean()) > 0.9
        shuffled = arms * (theta - np.log(r / row["disk_R_sersic"]) / np.tan(np.radians(row["spiral_pitch_deg"]
                                                                                          + 25.0)))
        assert np.abs(np.exp(1j * shuffled).mean()) < np.abs(np.exp(1j * phase).mean())

    coloured = add_band_columns(meta.iloc[:20], ("g", "r", "i"), get_preset("kids"))
    g_r = lambda c: -2.5 * np.log10(np.concatenate([np.atleast_1d(v) for v in coloured[f"{c}_amp_g"]])
                                    / np.concatenate([np.atleast_1d(v) for v in coloured[f"{c}_amp"]]))
    assert np.median(g_r("blob")) < 1.0  # star-forming arms (an elliptical's g - r is ~1.3 here)
    assert component_classes("grand_design") == component_classes("spiral")
    assert "grand_design" in recipe_params("broad").negative_mix
    assert "grand_design" not in recipe_params("sky").negative_mix  # opt-in elsewhere
    images, rows = sim.simulate_shard("broad", 3, 5, 0, params={"lens_fraction": 0.0, "bands": ["g", "r", "i"],
                                      "negative_mix": {"grand_design": 1.0, "elliptical": 1.0}}, progress=False)
    write_table(rows, tmp_path / "shard.parquet")  # the kind's columns stored beside the other kinds'
    rows = pd.read_parquet(tmp_path / "shard.parquet")
    assert set(rows["kind"]) == {"grand_design", "elliptical"} and rows["spiral_arms"].isna().sum() == 1
    for i in range(3):
        for k, band in enumerate(("g", "r", "i")):
            np.testing.assert_array_equal(sim.render_from_metadata(rows.iloc[i], band=band), images[i, k])


def _image_magnifications(row):
    """|mu| of the images of a point source at the row's source centre, brightest first (lenstronomy's
    lens-equation solver: the reference, independent of ours)."""
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LensModel.Solver.lens_equation_solver import LensEquationSolver

    model = LensModel(["SIE", "SHEAR"])
    kwargs = [{k: row[k] for k in ("theta_E", "e1", "e2", "center_x", "center_y")},
              {"gamma1": row["gamma1"], "gamma2": row["gamma2"], "ra_0": 0.0, "dec_0": 0.0}]
    offset = np.hypot(row["source_center_x"] - row["center_x"], row["source_center_y"] - row["center_y"])
    x, y = LensEquationSolver(model).image_position_from_source(
        row["source_center_x"], row["source_center_y"], kwargs, min_distance=0.02 * row["theta_E"],
        search_window=2 * (offset + 1.5 * row["theta_E"]), precision_limit=1e-10, num_iter_max=100)
    return np.sort(np.abs(model.magnification(x, y, kwargs)))[::-1]


def test_near_misses_are_lens_systems_whose_source_is_singly_imaged(tmp_path):
    """`near_miss`: a lens galaxy and a source drawn as the lenses' are, the source in the recorded
    annulus outside the multiply imaged region (one image, by the lens equation), labelled negative;
    its light scaled to the arc S/N target like a lens's; the lenses' rows do not change with it."""
    overrides = {"negative_mix": {"near_miss": 1.0}, "source_brightness": "arc_snr", "arc_snr": [20.0, 60.0]}
    p = recipe_params("broad", overrides)
    meta = draw_table(p, 4, 0, np.arange(256))
    near, lenses = meta[meta["kind"] == "near_miss"], meta[meta["is_lens"]]
    assert len(near) == 128 and not near["is_lens"].any()
    offset = np.hypot(near["source_center_x"] - near["center_x"], near["source_center_y"] - near["center_y"])
    lo, hi = p.near_miss_offset_theta_E
    assert (offset / near["theta_E"]).between(lo, hi).all()
    assert {len(_image_magnifications(row)) for _, row in near.iterrows()} == {1}
    assert set(near["source_model"]) == set(p.source_mix)  # the lenses' sources, knots and all
    assert np.array_equal(near["n_clump"] > 0, near["source_model"] != "sersic")
    other = draw_table(recipe_params("broad", {**overrides, "negative_mix": {"elliptical": 1.0}}), 4, 0,
                       np.arange(256))
    pd.testing.assert_frame_equal(lenses, other[other["is_lens"]][lenses.columns], check_dtype=False)

    images, rows = sim.simulate_shard("broad", 6, 4, 0, params={**overrides, "bands": ["g", "r", "i"]},
                                      progress=False)
    near = rows[rows["kind"] == "near_miss"]
    assert len(near) == 3 and near["arc_snr"].between(20.0 * 0.97, 60.0 * 1.03).all()
    np.testing.assert_allclose(near["arc_snr"], near["arc_snr_target"], rtol=0.03)
    write_table(rows, tmp_path / "shard.parquet")
    rows = pd.read_parquet(tmp_path / "shard.parquet")
    for i in np.flatnonzero(rows["kind"] == "near_miss"):
        for k, band in enumerate(("g", "r", "i")):
            np.testing.assert_array_equal(sim.render_from_metadata(rows.iloc[i], band=band), images[i, k])
    images, rows = sim.simulate_shard("skeleton", 4, 4, 0, params={"negative_mix": {"near_miss": 1.0}},
                                      progress=False)  # the papers' per-image draws, opt-in
    near = rows[rows["kind"] == "near_miss"]
    assert len(near) == 2 and {len(_image_magnifications(row)) for _, row in near.iterrows()} == {1}
    for i in near.index:
        np.testing.assert_array_equal(sim.render_from_metadata(rows.loc[i]), images[i])
    with pytest.raises(InputError, match="near_miss_offset_theta_E"):
        recipe_params("broad", {"near_miss_offset_theta_E": [0.5, 2.0]})  # would reach into the lensing


@pytest.mark.parametrize("recipe", ["broad", "skeleton"])
def test_sources_can_be_kept_where_they_have_a_counter_image(recipe):
    """`source_min_counter_magnification`: every lens's source centre has a second image magnified at
    least that much, by lenstronomy's lens-equation solver (without it a third of broad's placements
    have none, or one fainter); the lens itself stays the same, and only the sources without one move."""
    def counter_magnification(row):
        mu = _image_magnifications(row)
        return mu[1] if len(mu) > 1 else 0.0

    lenses = {}
    for threshold, share in ((0.0, 1.0), (0.25, 1.0), (0.25, 0.5)):
        p = recipe_params(recipe, {"source_min_counter_magnification": threshold, "lens_fraction": 1.0,
                                   "source_offset_theta_E": 1.0, "source_counter_image_share": share})
        lenses[threshold, share] = draw_table(p, 5, 0, np.arange(100))
    mu2 = {k: np.array([counter_magnification(row) for _, row in lenses[k].iterrows()]) for k in lenses}
    without = mu2[0.0, 1.0] < 0.25
    assert mu2[0.25, 1.0].min() >= 0.25 * 0.99 and 0.15 < without.mean() < 0.6
    for column in ("theta_E", "e1", "e2", "gamma1", "gamma2", "mag_lens"):
        np.testing.assert_array_equal(lenses[0.25, 1.0][column], lenses[0.0, 1.0][column])
        np.testing.assert_array_equal(lenses[0.25, 0.5][column], lenses[0.0, 1.0][column])
    moved = lenses[0.25, 1.0]["source_center_x"] != lenses[0.0, 1.0]["source_center_x"]
    np.testing.assert_array_equal(moved, without)
    # `source_counter_image_share` 0.5: about half of the lenses without a counter-image are moved to one
    moved = (lenses[0.25, 0.5]["source_center_x"] != lenses[0.0, 1.0]["source_center_x"]).to_numpy()
    kept = ~moved & without
    assert not (moved & ~without).any() and (mu2[0.25, 0.5][moved] >= 0.25 * 0.99).all()
    assert 0.2 < moved[without].mean() < 0.8 and (mu2[0.25, 0.5][kept] < 0.25).all()
    with pytest.raises(InputError, match="source_min_counter_magnification"):
        recipe_params(recipe, {"source_min_counter_magnification": -0.1})
    with pytest.raises(InputError, match="source_counter_image_share"):
        recipe_params(recipe, {"source_counter_image_share": 1.5})
