"""LSST: the Rubin Observatory Legacy Survey of Space and Time, 10-year coadds.

Sources
-------
- lenstronomy, ``SimulationAPI/ObservationConfig/LSST.py``: median seeing
  u 0.81", g 0.77", r 0.73", i 0.71", z 0.69", y 0.68"; sky brightness
  (mag/arcsec^2) u 22.99, g 22.26, r 21.2, i 20.48, z 19.6, y 18.61;
  15 s exposures (u 140, g 200, r 460, i 460, z 400, y 400 in 10 years);
  0.2"/px, gain 2.3 e-/ADU, read noise 10 e-.
- Ivezic et al. 2019, ApJ 873, 111, table 1: 10-year coadded 5-sigma
  point-source depths u 26.1, g 27.4, r 27.5, i 26.8, z 26.1, y 24.9.
- Rubin coadds are in nJy: zero point 31.4 mag.
- Seeing ranges are approximate. Filter curves: speclite ``lsst2023-*``.
"""

from __future__ import annotations

from lensfinder.surveys.presets.base import BandSpec, SurveyPreset

__all__ = ["PRESET"]

_ZP = 31.4  # nJy: -2.5 log10(1e-9 Jy / 3631 Jy)


def _band(name, seeing, range_, depth, sky, n_exposures):
    return BandSpec(name, seeing, range_, depth, (depth - 0.2, depth + 0.2), _ZP, sky, f"lsst2023-{name}",
                    15.0 * n_exposures, gain_e_per_adu=2.3, read_noise_e=10.0)


PRESET = SurveyPreset(
    name="lsst",
    title="LSST 10-year (Rubin Observatory)",
    bands=("g", "r", "i"),
    extra_bands=("u", "z", "y"),
    detection_band="r",
    pixel_scale_arcsec=0.2,
    stamp_size_arcsec=20.0,
    band_specs=(
        _band("g", 0.77, (0.55, 1.1), 27.4, 22.26, 200),
        _band("r", 0.73, (0.5, 1.05), 27.5, 21.2, 460),
        _band("i", 0.71, (0.5, 1.0), 26.8, 20.48, 460),
        _band("u", 0.81, (0.6, 1.15), 26.1, 22.99, 140),
        _band("z", 0.69, (0.5, 1.0), 26.1, 19.6, 400),
        _band("y", 0.68, (0.5, 1.0), 24.9, 18.61, 400),
    ),
)
