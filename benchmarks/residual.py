"""Stamps per second of the PSF-matched colour residual, against the plain way of finding the same blur.

The stamps: compact red galaxies seen through a g PSF wider than the r one (Gaussian sigmas drawn per
stamp, g/r FWHM ratio 0.8-1.6), with white noise, 101 x 101 pixels, g, r, i. Timed:

- ``match_sigmas`` (lensfinder): every blur of the grid on the central 33 x 33 pixels of all stamps at
  once, as two small matrix products per blur, evaluated only on the 13 x 13 pixels the choice reads;
- the plain way, as a first version would write it: for each stamp and each blur of the grid,
  ``scipy.ndimage.gaussian_filter`` on the stamp's central 33 x 33 pixels, then the same fit and cost
  (on the first 200 stamps at most); the blurs chosen must agree with ``match_sigmas``'s grid choice
  (within a grid step's refinement, 0.25 px) for at least ``--min-agreement`` (default 0.95) of the
  stamps ``match_sigmas`` matches, or the script exits 1: the two compute the cost in another order
  (matrix products in float64 against scipy's filters), so a near-tie may fall either way, and all
  of them have agreed so far;
- ``colour_residual_band`` with ``psf`` (the choice, the refinement and the whole-stamp blur) and with
  ``scale``, and ``prepare_batch`` of the network's 8-channel input with each: what the match adds to a
  stamp's preparation (a training prepares each image once, then keeps its input).

Every row is the best of ``--repeat`` runs, the baseline's too.

Usage: ``python benchmarks/residual.py [--n 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _best_time(func, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _stamps(n: int, seed: int):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:101, :101] - 50.0
    cube = np.empty((n, 3, 101, 101), np.float32)
    for k in range(n):
        r_e = rng.uniform(1.0, 4.0)
        galaxy = rng.uniform(200, 3000) * np.exp(-3.0 * np.sqrt(np.hypot(xx, yy) / r_e))
        r_sigma = rng.uniform(1.2, 1.8)
        g_sigma = r_sigma * rng.uniform(0.8, 1.6)
        for band, (scale, sigma) in enumerate(((0.3, g_sigma), (1.0, r_sigma), (1.5, r_sigma))):
            cube[k, band] = ndimage.gaussian_filter(scale * galaxy, sigma) + rng.normal(0, 1.0, (101, 101))
    return cube


def _plain_choice(blue, red, sigmas, fit_pix, core_pix, half):
    """The grid choice of ``match_sigmas`` (before its significance test and refinement), one stamp and one
    blur at a time with scipy."""
    from scipy import ndimage

    from lensfinder.learning.residual import _border_noise

    size = 2 * half + 1
    yy, xx = np.mgrid[:size, :size] - half
    fit = np.hypot(yy, xx) <= fit_pix
    core = (np.hypot(yy, xx) <= core_pix)[fit]
    radius = np.rint(np.hypot(yy, xx))[fit]
    rings = [radius == value for value in np.unique(radius)]
    expected = sum(np.pi / 2 if ring.sum() > 2 else 1.0 for ring in rings)
    c = (blue.shape[-1] - 1) // 2
    noise_b, noise_r = _border_noise(blue), _border_noise(red)
    choice = np.zeros(len(blue))
    for k in range(len(blue)):
        b0 = blue[k, c - half:c + half + 1, c - half:c + half + 1].astype(np.float64)
        r0 = red[k, c - half:c + half + 1, c - half:c + half + 1].astype(np.float64)
        best = np.inf
        for sign in (1, -1):
            for sigma in sigmas:
                if sign < 0 and sigma == 0:
                    continue
                kernel = ndimage.gaussian_filter(np.pad([[1.0]], 12), sigma) if sigma else np.ones((1, 1))
                power = (kernel**2).sum()
                bb = ndimage.gaussian_filter(b0, sigma, mode="constant") if sign < 0 and sigma else b0
                rr = ndimage.gaussian_filter(r0, sigma, mode="constant") if sign > 0 and sigma else r0
                bf, rf = bb[fit], rr[fit]
                den = (rf[core] ** 2).sum()
                scale = np.clip((bf[core] * rf[core]).sum() / den if den > 0 else 0.0, 0.0, 2.0)
                keep_b, keep_r = (power, 1.0) if sign < 0 else (1.0, power)
                resid = bf - scale * rf
                cost = sum(np.count_nonzero(ring) * np.median(resid[ring]) ** 2 for ring in rings)
                cost -= expected * (noise_b[k] ** 2 * keep_b + scale**2 * noise_r[k] ** 2 * keep_r)
                if cost < best:
                    best, choice[k] = cost, sign * sigma
    return choice


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="stamps")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-agreement", type=float, default=0.95,
                        help="least share of the matched stamps whose grid choice must agree (exit 1 below it)")
    args = parser.parse_args(argv)

    from lensfinder.learning import residual
    from lensfinder.learning.preprocessing import prepare_batch

    cube = _stamps(args.n, args.seed)
    blue, red = cube[:, 0], cube[:, 1]
    sigmas = residual.MATCH_SIGMAS_PIX
    residual.match_sigmas(blue[:8], red[:8])  # builds the blur matrices once
    t_ours, ours = _best_time(lambda: residual.match_sigmas(blue, red), args.repeat)
    n_plain = min(args.n, 200)
    half = int(np.ceil(residual.MATCH_FIT_PIX)) + int(np.ceil(4.0 * max(sigmas)))
    t_plain, plain = _best_time(lambda: _plain_choice(blue[:n_plain], red[:n_plain], sigmas, residual.MATCH_FIT_PIX,
                                                      residual.COLOUR_RESIDUAL_CORE_PIX, half), args.repeat)
    # the grid choice agrees where match_sigmas keeps a blur (it refines it by at most one grid step)
    kept = ours[:n_plain] != 0
    agree = np.abs(ours[:n_plain][kept] - plain[kept]) <= 0.25 + 1e-9
    t_psf, _ = _best_time(lambda: residual.colour_residual_band(cube, "gri", ("g", "r"), "psf"), args.repeat)
    t_scale, _ = _best_time(lambda: residual.colour_residual_band(cube, "gri", ("g", "r"), "scale"), args.repeat)
    settings = {"input_shape": [49, 49, 8], "bands": ["g", "r", "i"], "preprocess": "bin2_crop",
                "normalization": "sky", "colour_residual": ["g", "r"]}
    t_prep_psf, _ = _best_time(lambda: prepare_batch(cube, {**settings, "colour_residual_match": "psf"}), args.repeat)
    t_prep_scale, _ = _best_time(lambda: prepare_batch(cube, {**settings, "colour_residual_match": "scale"}),
                                 args.repeat)
    per = 1e3 / args.n
    print(f"{args.n} stamps of 101 x 101 pixels, g r i; blurs of sigma {sigmas[0]}-{sigmas[-1]} px, either band")
    print(f"  match_sigmas (lensfinder)             {t_ours * per:7.3f} ms/stamp")
    print(f"  one stamp and blur at a time (scipy)  {t_plain * 1e3 / n_plain:7.3f} ms/stamp "
          f"({n_plain} stamps; the same grid choice for {agree.mean():.0%} of the {kept.sum()} matched)")
    print(f"  ratio                                 {t_plain / n_plain / (t_ours / args.n):7.1f}x")
    print(f"  colour_residual_band psf / scale      {t_psf * per:7.3f} / {t_scale * per:.3f} ms/stamp")
    print(f"  prepare_batch (8 channels) psf / scale {t_prep_psf * per:6.3f} / {t_prep_scale * per:.3f} ms/stamp "
          f"({t_prep_psf / t_prep_scale:.2f}x)")
    print(f"  blurs chosen: none {np.mean(ours == 0):.0%}, red {np.mean(ours > 0):.0%}, blue {np.mean(ours < 0):.0%}")
    if not kept.any() or agree.mean() < args.min_agreement:
        print(f"the grid choices agree for {agree.mean() if kept.any() else 0:.1%} of the {kept.sum()} matched stamps, "
              f"below --min-agreement {args.min_agreement:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
