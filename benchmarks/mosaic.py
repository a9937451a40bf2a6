"""Inspection-set figures: lensfinder's mosaic and stamp PNGs vs the textbook matplotlib way.

The ``candidates`` step of every run (and ``round_candidates``, and the
ranked list's top-candidates figure) writes a PNG per stamp and band and a
mosaic of the first 100. Both are timed on the same synthetic g, r, i stamps
(101 x 101, a galaxy and an arc over noise), written to a temporary folder:

- stamps: :func:`lensfinder.plots.stamps.render_band_png` (Lupton composite,
  PNG at zlib level 1) against the same composite saved by
  ``matplotlib.image.imsave`` at its default level (6): the same pixels
  (checked: the decoded PNGs must be equal), only the compression differs;
- mosaic layout: :func:`lensfinder.plots.stamps.write_mosaic` (one axes in
  inch coordinates, each stamp an ``imshow`` with its extent and a text
  label) against one axes per stamp from ``plt.subplots`` with ``set_title``
  labels, laid out by ``tight_layout`` (lensfinder's mosaic before December
  2026), both saved at write_mosaic's zlib level 1, so that the ratio is the
  layout's alone;
- mosaic compression, apart: the baseline's figure saved at level 1 against
  level 6 (the default, at which the code before saved it), with the file
  sizes; the decoded pixels of the two must be equal. The ratio of the code
  before (layout and level 6) against write_mosaic is printed too.

A check that fails (pixels that differ) makes the script exit 1.

Usage: ``python benchmarks/mosaic.py [--n 100] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _best_time(func, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def _stamps(n, size, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] - size // 2
    r = np.hypot(x, y)
    galaxy = 2000.0 * np.exp(-r / 4.0)
    arc = 300.0 * np.exp(-0.5 * ((r - 12.0) / 1.5) ** 2) * (np.cos(np.arctan2(y, x)) > 0.3)
    colours = np.array([[0.3, 0.8], [1.0, 0.6], [1.6, 0.5]])  # g, r, i: galaxy red, arc blue
    base = colours[:, :1, None] * galaxy + colours[:, 1:, None] * arc
    return base[None] + rng.normal(0.0, 10.0, (n, 3, size, size))


def _decoded(path):
    """The pixels of a PNG file, as Pillow decodes them (RGBA)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def _baseline_mosaic(pngs, labels, path, ncols=10, tile_inches=1.3, compress_level=6):
    import matplotlib.image as mpimg

    from lensfinder.plots.style import pyplot, save_figure

    plt = pyplot()
    nrows = -(-len(pngs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(tile_inches * ncols, (tile_inches + 0.25) * nrows + 0.45),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, png, label in zip(axes.ravel(), pngs, labels):
        ax.imshow(mpimg.imread(png))
        ax.set_title(label, fontsize=5, pad=2)
    fig.tight_layout(pad=0.3)
    fig.suptitle("objects to inspect", fontsize=8)
    save_figure(fig, path, dpi=150, bbox_inches=None, pil_kwargs={"compress_level": compress_level})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="stamps (the inspection mosaic shows 100)")
    parser.add_argument("--size", type=int, default=101, help="stamp side, pixels")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import matplotlib.image as mpimg

    from lensfinder.plots.stamps import render_band_png, stamp_composite, write_mosaic

    stamps = _stamps(args.n, args.size, args.seed)
    bands = ("g", "r", "i")
    labels = [f"KiDS-{k:05d}" for k in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ours = [tmp / f"ours_{k}.png" for k in range(args.n)]
        base = [tmp / f"base_{k}.png" for k in range(args.n)]

        def write_ours():
            for stamp, path in zip(stamps, ours):
                render_band_png(path, stamp, bands)

        def write_baseline():
            for stamp, path in zip(stamps, base):
                img = np.repeat(np.repeat(stamp_composite(stamp, bands)[::-1], 2, axis=0), 2, axis=1)
                mpimg.imsave(path, img, format="png")

        render_band_png(tmp / "warm.png", stamps[0], bands)  # warm-up of both (imports, Pillow's encoder)
        t_png = _best_time(write_ours, args.repeat)
        t_png_base = _best_time(write_baseline, args.repeat)
        size_ours = sum(p.stat().st_size for p in ours)
        size_base = sum(p.stat().st_size for p in base)
        same_stamps = all(np.array_equal(_decoded(a), _decoded(b)) for a, b in zip(ours, base))
        write_mosaic(ours[:2], labels[:2], tmp / "warm.png", title="warm-up")  # fonts, the Agg canvas
        # ours, the baseline at write_mosaic's level 1 (the layout alone) and at its own level 6, interleaved
        t_mosaic, t_base1, t_base6 = np.inf, np.inf, np.inf
        for _ in range(args.repeat):
            t_mosaic = min(t_mosaic, _best_time(lambda: write_mosaic(ours, labels, tmp / "mosaic.png",
                                                                     title="objects to inspect"), 1))
            t_base1 = min(t_base1, _best_time(lambda: _baseline_mosaic(ours, labels, tmp / "mosaic_base1.png",
                                                                       compress_level=1), 1))
            t_base6 = min(t_base6, _best_time(lambda: _baseline_mosaic(ours, labels, tmp / "mosaic_base6.png",
                                                                       compress_level=6), 1))
        mosaic_mb = (tmp / "mosaic.png").stat().st_size / 1e6
        base1_mb = (tmp / "mosaic_base1.png").stat().st_size / 1e6
        base6_mb = (tmp / "mosaic_base6.png").stat().st_size / 1e6
        same_mosaic = np.array_equal(_decoded(tmp / "mosaic_base1.png"), _decoded(tmp / "mosaic_base6.png"))

    print(f"stamp PNGs (g, r, i composite, {args.size}x{args.size} shown 2x), {args.n} stamps:")
    print(f"  lensfinder render_band_png (zlib 1)  {args.n / t_png:8.1f} PNG/s  {size_ours / args.n / 1e3:6.1f} kB each")
    print(f"  matplotlib imsave (zlib 6)           {args.n / t_png_base:8.1f} PNG/s  "
          f"{size_base / args.n / 1e3:6.1f} kB each")
    print(f"  ratio {t_png_base / t_png:.2f}x (size {size_ours / size_base:.2f}x)")
    print(f"  decoded pixels identical: {same_stamps}")
    print(f"mosaic of {args.n} stamps, the layout (both at zlib level 1):")
    print(f"  lensfinder write_mosaic               {t_mosaic:6.2f} s  {mosaic_mb:5.1f} MB")
    print(f"  subplots + set_title + tight_layout   {t_base1:6.2f} s  {base1_mb:5.1f} MB")
    print(f"  ratio {t_base1 / t_mosaic:.2f}x")
    print("mosaic compression (the baseline's figure):")
    print(f"  zlib level 6 (the code before)        {t_base6:6.2f} s  {base6_mb:5.1f} MB")
    print(f"  ratio level 6 / level 1 {t_base6 / t_base1:.2f}x (size {base1_mb / base6_mb:.2f}x); "
          f"decoded pixels identical: {same_mosaic}")
    print(f"  layout and compression together (the code before / write_mosaic): {t_base6 / t_mosaic:.2f}x")
    if not (same_stamps and same_mosaic):
        print("decoded PNG pixels differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
