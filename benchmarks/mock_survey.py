"""Mock-survey tile time per band: the detection band (r) alone against every band of the preset (g, r, i).

:func:`lensfinder.surveys.mock.tiles.make_tile` draws the objects once and
renders each band through its own PSF and noise; with ``bands=["r"]`` it
renders r alone (and the catalogue's GAaP columns other than r stay
synthetic). The script times both (best of ``--repeat``, after one small
warm-up tile) and prints seconds per tile, seconds per band and the ratio
of the 3-band tile to the 1-band tile.

Usage: ``python benchmarks/mock_survey.py [--size-pix 2000] [--n-lenses 12] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-pix", type=int, default=2000, help="tile side, pixels (the default run's)")
    parser.add_argument("--n-lenses", type=int, default=12, help="lenses per tile (the default run's)")
    parser.add_argument("--preset", default="kids", help="survey preset (lensfinder.surveys.presets)")
    parser.add_argument("--repeat", type=int, default=2, help="timing repeats (best is kept)")
    args = parser.parse_args(argv)

    from lensfinder.surveys.mock.tiles import make_tile, mock_survey_config
    from lensfinder.surveys.presets import get_preset

    preset = get_preset(args.preset)
    make_tile("W", 0, 0, mock_survey_config({"size_pix": 300, "n_lenses": 1, "preset": args.preset}))  # warm-up
    cfg = mock_survey_config({"size_pix": args.size_pix, "n_lenses": args.n_lenses, "preset": args.preset})
    times = {}
    for label, bands in (("1 band", [preset.detection_band]), (f"{len(preset.bands)} bands", list(preset.bands))):
        best = np.inf
        for k in range(args.repeat):
            t0 = time.perf_counter()
            make_tile("MOCK_0", 0, 42, cfg, bands=bands)
            best = min(best, time.perf_counter() - t0)
        times[label] = (best, len(bands))
        print(f"{label:>8} ({','.join(bands)}): {best:6.2f} s per tile, {best / len(bands):6.2f} s per band")
    (t1, _), (tn, n) = times.values()
    print(f"ratio {n} bands / 1 band: {tn / t1:.2f} (per band: {tn / n / t1:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
