"""Images per second: lensfinder's simulator against lenstronomy (and GalSim for knots), same rows, same cores.

Rows 1-6 (the physics of every image: SIE + external shear lens, Sersic lens
light, Sersic source, Gaussian PSF with its FWHM drawn per image, Poisson
(Gaussian approximation, as lenstronomy's ``add_poisson``) and Gaussian sky
noise, 101 x 101 pixels at 0.2"/px, no supersampling): parameters from the
``skeleton`` recipe with ``lens_fraction=1``; lenstronomy renders the same
metadata rows. ``simulate_shard`` is timed with the per-block draws (the
default of ``skeleton`` and ``sky``) and with the per-image draws of the
papers' recipes.

Row 7, the richest recipe: ``sky`` (confusers with knots and tidal tails,
satellites, field galaxies, sources with knots, several sources, lensed
quasars, three lens-light models, Moffat PSFs, arcs scaled to an S/N,
half lenses) by ``simulate_shard`` (draw, S/N scaling, render) against
lenstronomy rendering the same rows from the metadata (one ImageModel per
row, PIXEL PSF, point sources for quasar images and stars, Gaussian
blobs sampled at pixel centres: its cheapest setting) plus noise.

Row 8: knots of a clumpy galaxy (GalSim's RandomKnots) through a Gaussian
PSF: GalSim's ``drawImage`` against lensfinder's kernels for the same knots.

Rates are images per second of process CPU time by default (``--clock cpu``),
which a busy shared machine disturbs less than elapsed time; with one thread
that is images per second per core. Both run in this process on ``--threads`` threads (BLAS/OpenMP limits are set
before numpy is imported). lenstronomy is timed twice on rows 1-6: with one ImageModel and
a fixed PSF (its fastest use, favourable to it) and with the per-image PSF the
physics asks for (``update_psf``). Ratios are quoted against the faster.

Usage::

    .venv/bin/python benchmarks/simulate.py [--n 2000] [--n-lenstronomy 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="images rendered by lensfinder")
    parser.add_argument("--n-lenstronomy", type=int, default=300, help="images rendered by lenstronomy")
    parser.add_argument("--threads", type=int, default=1, help="threads for both (BLAS/OpenMP)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: process CPU time (robust on a shared machine); wall: elapsed time")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS"):
        os.environ[var] = str(args.threads)

    import warnings

    import numpy as np

    from lensfinder import simulation as sim

    warnings.simplefilter("ignore")
    params = {"lens_fraction": 1.0, "light_supersampling": 1}
    _, meta = sim.simulate_shard("skeleton", args.n, seed=1, shard=0, params=params, progress=False)
    sim.simulate_shard("sky", 256, seed=9, shard=0, progress=False)  # compile, load the caches

    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    def best(fn, n):
        times = []
        for _ in range(args.repeat):
            t0 = clock()
            fn()
            times.append(clock() - t0)
        return n / min(times)

    ours_render = best(lambda: sim.render_images(meta), len(meta))
    ours_full = best(lambda: sim.simulate_shard("skeleton", args.n, 1, 0, params, progress=False), args.n)
    ours_per_image = best(lambda: sim.simulate_shard("skeleton", args.n, 1, 0, {**params, "draw_scheme": "per_image"},
                                                     progress=False), args.n)
    ours_default = best(lambda: sim.simulate_shard("skeleton", args.n, 1, 0, {"lens_fraction": 1.0}, progress=False),
                        args.n)
    gri = {**params, "bands": ["g", "r", "i"]}
    sim.simulate_shard("skeleton", 16, 1, 0, gri, progress=False)  # the SED template grid, once per process
    ours_gri = best(lambda: sim.simulate_shard("skeleton", args.n, 1, 0, gri, progress=False), args.n)
    seeds = iter(range(100, 200))  # new rows each repeat: the Moffat kernel caches start as a job's do
    ours_sky = best(lambda: sim.simulate_shard("sky", args.n, next(seeds), 0, progress=False), args.n)
    _, sky_meta = sim.simulate_shard("sky", args.n_lenstronomy, 1, 0, progress=False)

    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel
    from lenstronomy.Util import image_util

    rows = meta.iloc[: args.n_lenstronomy]
    n_pix, scale = 101, 0.2
    keys = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
    kwargs = []
    for _, r in rows.iterrows():
        kwargs.append((
            [{k: float(r[k]) for k in ("theta_E", "e1", "e2", "center_x", "center_y")},
             {"gamma1": float(r["gamma1"]), "gamma2": float(r["gamma2"])}],
            [{k: float(r[f"source_{k}"]) for k in keys}],
            [{k: float(r[f"lens_light_{k}"]) for k in keys}],
            float(r["psf_fwhm_arcsec"]), float(r["sky_sigma"]), float(r["gain"]),
        ))
    data = ImageData(image_data=np.zeros((n_pix, n_pix)), ra_at_xy_0=-(n_pix - 1) / 2 * scale,
                     dec_at_xy_0=-(n_pix - 1) / 2 * scale, transform_pix2angle=np.array([[scale, 0.0], [0.0, scale]]))

    def model(fwhm):
        return ImageModel(data, PSF(psf_type="GAUSSIAN", fwhm=fwhm, truncation=4),
                          lens_model_class=LensModel(["SIE", "SHEAR"]),
                          source_model_class=LightModel(["SERSIC_ELLIPSE"]),
                          lens_light_model_class=LightModel(["SERSIC_ELLIPSE"]),
                          kwargs_numerics={"supersampling_factor": 1})

    fixed = model(0.7)

    def lenstronomy_fixed_psf():
        for kw_lens, kw_src, kw_ll, _, sky, gain in kwargs:
            img = fixed.image(kwargs_lens=kw_lens, kwargs_source=kw_src, kwargs_lens_light=kw_ll)
            img = img + image_util.add_poisson(img, exp_time=gain) + image_util.add_background(img, sigma_bkd=sky)

    per_image = model(0.7)

    def lenstronomy_per_image_psf():
        for kw_lens, kw_src, kw_ll, fwhm, sky, gain in kwargs:
            per_image.update_psf(PSF(psf_type="GAUSSIAN", fwhm=fwhm, truncation=4))
            img = per_image.image(kwargs_lens=kw_lens, kwargs_source=kw_src, kwargs_lens_light=kw_ll)
            img = img + image_util.add_poisson(img, exp_time=gain) + image_util.add_background(img, sigma_bkd=sky)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from simulation.lenstronomy_reference import lenstronomy_image  # the tests' reference renderer

    def lenstronomy_sky():
        for _, r in sky_meta.iterrows():
            img = lenstronomy_image(r, gaussian_supersampling=1)
            img = img + image_util.add_poisson(img, exp_time=r["gain"]) + image_util.add_background(
                img, sigma_bkd=r["sky_sigma"])

    np.random.seed(0)  # lenstronomy's noise uses numpy's global generator
    lens_fixed = best(lenstronomy_fixed_psf, len(kwargs))
    lens_per_image = best(lenstronomy_per_image_psf, len(kwargs))
    lens_sky = best(lenstronomy_sky, len(sky_meta))
    reference = max(lens_fixed, lens_per_image)
    galsim_knots, ours_knots = _knots(best, sim)

    print(f"threads: {args.threads}; clock: {args.clock}; 101x101 px")
    print(f"{'renderer (rows 1-6: SIE + shear, Sersic lens + source, Gaussian PSF, noise)':78s} {'images/s':>10s} "
          f"{'ratio':>8s}")
    for name, rate, ref in [
        ("lenstronomy, fixed PSF (favourable)", lens_fixed, reference),
        ("lenstronomy, per-image PSF (update_psf)", lens_per_image, reference),
        ("lensfinder render_images (from metadata)", ours_render, reference),
        ("lensfinder simulate_shard (draw + render), per-block draws", ours_full, reference),
        ("lensfinder simulate_shard (draw + render), per-image draws (papers' recipes)", ours_per_image, reference),
        ("lensfinder simulate_shard, per-block, default 8x8 supersampling + cusp levels", ours_default, reference),
        ("lensfinder simulate_shard, per-block, g, r, i (images of 3 bands/s; vs 1 band)", ours_gri, ours_full),
        ("richest recipe (sky): lenstronomy rendering the same rows + noise", lens_sky, lens_sky),
        ("richest recipe (sky): lensfinder simulate_shard (draw + S/N scaling + render)", ours_sky, lens_sky),
        ("knots (40 per galaxy) + Gaussian PSF: GalSim drawImage", galsim_knots, galsim_knots),
        ("knots (40 per galaxy) + Gaussian PSF: lensfinder render_images", ours_knots, galsim_knots),
    ]:
        print(f"{name:78s} {rate:10.0f} {rate / ref:8.1f}")
    print(f"ratio (lensfinder draw + render / faster lenstronomy): {ours_full / reference:.1f}x; "
          f"sky: {ours_sky / lens_sky:.1f}x; g, r, i: {3 * ours_gri / ours_full:.2f}x the 1-band rate in band images/s")
    return 0


def _knots(best, sim, n=200):
    """GalSim and lensfinder rendering the same clumpy galaxies (40 knots each, no smooth part)."""
    import galsim

    params = {"lens_fraction": 0.0, "negative_mix": {"irregular": 1.0}, "psf_model": "gaussian",
              "confuser_knots": [40, 40], "confuser_knot_sigma_arcsec": [0.05, 0.15], "field_galaxies": [0, 0],
              "light_supersampling": 1}
    _, meta = sim.simulate_shard("sky", n, 5, 0, params=params, progress=False)
    meta = meta.assign(lens_light_amp=float("nan"))

    def with_galsim():
        for _, row in meta.iterrows():
            knots = galsim.Add([galsim.Gaussian(sigma=s, flux=a).shift(x, y) for a, x, y, s in
                                zip(row["blob_amp"], row["blob_center_x"], row["blob_center_y"], row["blob_sigma"])])
            galsim.Convolve(knots, galsim.Gaussian(fwhm=row["psf_fwhm_arcsec"])).drawImage(nx=101, ny=101, scale=0.2)

    return best(with_galsim, n), best(lambda: sim.render_images(meta), n)


if __name__ == "__main__":
    sys.exit(main())
