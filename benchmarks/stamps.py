"""Cutouts per second: lensfinder's vectorised extractor vs a loop of astropy ``Cutout2D``.

Both cut the same objects from the same open, memory-mapped FITS tile
(a synthetic float32 image with a 0.2"/px TAN WCS written to a temporary
directory), 101 x 101 pixels, positions given as RA/Dec:

- ``lensfinder``: one ``all_world2pix`` call for all objects, then
  :func:`lensfinder.selection.cutouts.cut_stamps` (corners, overlaps and edge flags for
  all objects at once, one slice copy per stamp in row order, edge stamps
  padded);
- ``Cutout2D (pixel)``: RA/Dec converted once as above, then one
  ``Cutout2D(image, (x, y), size, mode="partial", fill_value=0)`` per object,
  each copied into the output cube;
- ``Cutout2D (SkyCoord + WCS)``: the plain per-object idiom,
  ``Cutout2D(image, SkyCoord(ra, dec), size, wcs=wcs, mode="partial")``.

Then the bands: :func:`lensfinder.selection.stamps.extract_band_stamps` on
the r band alone against g, r, i (three memory-mapped tiles on one grid, and
with the i band on its own, shifted grid, cut at the r band's sky
positions), stamps and masked/NaN fractions included; it prints cutouts per
second per band against the 1-band figure.

Usage: ``python benchmarks/stamps.py [--n-objects 3000] [--tile-pix 4000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np


def _best_time(func, repeat):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-objects", type=int, default=3000, help="objects per tile (KiDS DR4 BG: ~3800)")
    parser.add_argument("--tile-pix", type=int, default=4000, help="side of the synthetic tile, pixels")
    parser.add_argument("--size", type=int, default=101, help="stamp side, pixels")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    from lensfinder.surveys.mock.tiles import tile_wcs
    from lensfinder.selection.cutouts import cut_stamps

    rng = np.random.default_rng(args.seed)
    n, size = args.n_objects, args.size
    wcs = tile_wcs(180.0, 0.0, args.tile_pix)
    x_true = rng.uniform(-0.4, args.tile_pix - 0.6, n)
    y_true = rng.uniform(-0.4, args.tile_pix - 0.6, n)
    ra, dec = wcs.all_pix2world(x_true, y_true, 0)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tile.fits"
        data = rng.standard_normal((args.tile_pix, args.tile_pix), dtype=np.float32)
        fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path)
        del data
        with fits.open(path, memmap=True) as hdul:
            image = hdul[0].data
            image[::256, ::256].sum()  # touch the pages once, for both contenders alike

            def ours():
                x, y = wcs.all_world2pix(ra, dec, 0)
                return cut_stamps(image, x, y, size)[0]

            def cutout_pixel():
                x, y = wcs.all_world2pix(ra, dec, 0)
                cube = np.empty((n, size, size), dtype=np.float32)
                for k in range(n):
                    cube[k] = Cutout2D(image, (x[k], y[k]), size, mode="partial", fill_value=0.0).data
                return cube

            def cutout_sky():
                coords = SkyCoord(ra, dec, unit="deg")
                cube = np.empty((n, size, size), dtype=np.float32)
                for k in range(n):
                    cube[k] = Cutout2D(image, coords[k], size, wcs=wcs, mode="partial", fill_value=0.0).data
                return cube

            t_ours, a = _best_time(ours, args.repeat)
            t_pix, b = _best_time(cutout_pixel, args.repeat)
            t_sky, c = _best_time(cutout_sky, args.repeat)
            same = bool(np.array_equal(a, b, equal_nan=True) and np.array_equal(a, c, equal_nan=True))

    print(f"{n} stamps of {size}x{size} from a {args.tile_pix}x{args.tile_pix} memory-mapped float32 tile")
    print(f"  lensfinder cut_stamps     : {n / t_ours:10.0f} cutouts/s  ({t_ours * 1e3:8.1f} ms)")
    print(f"  Cutout2D loop (pixel)     : {n / t_pix:10.0f} cutouts/s  ({t_pix * 1e3:8.1f} ms)")
    print(f"  Cutout2D loop (SkyCoord)  : {n / t_sky:10.0f} cutouts/s  ({t_sky * 1e3:8.1f} ms)")
    print(f"  ratio vs Cutout2D (pixel)   : {t_pix / t_ours:6.1f}x")
    print(f"  ratio vs Cutout2D (SkyCoord): {t_sky / t_ours:6.1f}x")
    print(f"  identical stamps: {same}")
    same_bands = _bands(args, rng, wcs, ra, dec)
    return 0 if same and same_bands else 1


def _bands(args, rng, wcs, ra, dec) -> bool:
    """Per-band throughput of the band extractor: r alone against g, r, i; True if r is the same in both."""
    import pandas as pd
    from astropy.io import fits

    from lensfinder.selection.bands import BandImage
    from lensfinder.selection.stamps import extract_band_stamps

    n, size = len(ra), args.size
    selection = pd.DataFrame({"ID": [f"o{k}" for k in range(n)], "RAJ2000": ra, "DECJ2000": dec, "s": True})
    shifted = wcs.deepcopy()
    shifted.wcs.crpix = wcs.wcs.crpix + np.array([3.0, -2.0])
    results = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        images = {}
        for band in ("g", "r", "i", "i_own"):
            path = Path(tmp) / f"{band}.fits"
            fits.PrimaryHDU(rng.standard_normal((args.tile_pix, args.tile_pix), dtype=np.float32),
                            header=(shifted if band == "i_own" else wcs).to_header()).writeto(path)
            hdul = stack.enter_context(fits.open(path, memmap=True))
            hdul[0].data[::256, ::256].sum()
            images[band] = BandImage(band[0], hdul[0].data, shifted if band == "i_own" else wcs, 0.7, 30.0, 0.2)
        cases = {"r": ["r"], "g,r,i": ["g", "r", "i"], "g,r,i (i on its own grid)": ["g", "r", "i_own"]}
        for name, bands in cases.items():
            results[name] = _best_time(lambda: extract_band_stamps([images[b] for b in bands], selection, ["s"], "T",
                                                                   size), args.repeat)
    t_one, (one, _, _) = results["r"]
    print(f"bands: {n} objects, stamps plus masked/NaN fractions (extract_band_stamps)")
    same = True
    for name, (t, (stamps, _, _)) in results.items():
        n_bands = 1 if stamps.ndim == 3 else stamps.shape[1]
        per_band = n * n_bands / t
        print(f"  {name:28s}: {n / t:8.0f} stamps/s, {per_band:8.0f} single-band cutouts/s "
              f"({per_band / (n / t_one):4.2f}x the 1-band figure)")
        same &= bool(np.array_equal(stamps if n_bands == 1 else stamps[:, 1], one, equal_nan=True))
    print(f"  r band identical in every case: {same}")
    return same


if __name__ == "__main__":
    raise SystemExit(main())
