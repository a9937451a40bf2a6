"""Images per second: lensfinder's simulator against lenstronomy, same physics, same cores.

Physics of every image: SIE + external shear lens, Sersic lens light, Sersic
source, Gaussian PSF (FWHM drawn per image), Poisson (Gaussian approximation,
as lenstronomy's ``add_poisson``) and Gaussian sky noise, 101 x 101 pixels at
0.2"/px, no supersampling (``light_supersampling=1``). Parameters come from the
``skeleton`` recipe with ``lens_fraction=1``; lenstronomy renders the same
metadata rows.

lensfinder renders with the compiled kernels of ``lensfinder.simulation.compiled``
(compiled, or loaded from numba's cache, before the timing starts).

Rates are images per second of process CPU time by default (``--clock cpu``),
which a busy shared machine disturbs less than elapsed time; with one thread
that is images per second per core. Both run in this process on ``--threads`` threads (BLAS/OpenMP limits are set
before numpy is imported). lenstronomy is timed twice: with one ImageModel and
a fixed PSF (its fastest use, favourable to it) and with the per-image PSF the
physics asks for (``update_psf``). The ratio is quoted against the faster.

Usage::

    .venv/bin/python benchmarks/simulate.py [--n 2000] [--n-lenstronomy 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time


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

    import numpy as np

    from lensfinder import simulation as sim

    params = {"lens_fraction": 1.0, "light_supersampling": 1}
    _, meta = sim.simulate_shard("skeleton", args.n, seed=1, shard=0, params=params, progress=False)

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
    ours_default = best(lambda: sim.simulate_shard("skeleton", args.n, 1, 0, {"lens_fraction": 1.0}, progress=False),
                        args.n)

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

    np.random.seed(0)  # lenstronomy's noise uses numpy's global generator
    lens_fixed = best(lenstronomy_fixed_psf, len(kwargs))
    lens_per_image = best(lenstronomy_per_image_psf, len(kwargs))
    reference = max(lens_fixed, lens_per_image)

    print(f"threads: {args.threads}; clock: {args.clock}; 101x101 px, SIE + shear, Sersic lens light + source, Gaussian PSF, noise")
    print(f"{'renderer':58s} {'images/s':>10s} {'ratio':>8s}")
    for name, rate in [
        ("lenstronomy, fixed PSF (favourable)", lens_fixed),
        ("lenstronomy, per-image PSF (update_psf)", lens_per_image),
        ("lensfinder render_images (from metadata)", ours_render),
        ("lensfinder simulate_shard (draw + render)", ours_full),
        ("lensfinder simulate_shard, default 8x8 central supersampling", ours_default),
    ]:
        print(f"{name:58s} {rate:10.0f} {rate / reference:8.1f}")
    print(f"ratio (lensfinder render / faster lenstronomy): {ours_render / reference:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
