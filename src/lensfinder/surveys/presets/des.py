"""DES DR2: the Dark Energy Survey wide field, six years (the DES lens searches).

Sources
-------
- Abbott et al. 2021, ApJS 255, 20 (DES DR2), abstract and table 1: median
  coadd depth at S/N = 10 in a 1.95" aperture g 24.7, r 24.4, i 23.8,
  z 23.1, Y 21.7 (5 sigma: 0.75 mag deeper); median PSF FWHM g 1.11",
  r 0.95", i 0.88", z 0.83", Y 0.90"; coadds at 0.263"/px with zero point 30.
- lenstronomy, ``SimulationAPI/ObservationConfig/DES.py``: sky brightness
  g 22.01, r 21.15, i 19.89, z 18.72, Y 17.96 mag/arcsec^2; 90 s exposures
  (Y 45 s), 10 per band; gain 4 e-/ADU, read noise 7 e-.
- Seeing ranges are approximate. Filter curves: speclite ``decam2014-*``.
"""

from __future__ import annotations

from lensfinder.surveys.presets.base import BandSpec, SurveyPreset

__all__ = ["PRESET"]

_ZP = 30.0  # DES coadd images: MAGZERO = 30
_TEN_TO_FIVE_SIGMA = 0.75  # 2.5 log10(10 / 5)


def _band(name, seeing, range_, depth_10sigma, sky, exposure_s):
    depth = round(depth_10sigma + _TEN_TO_FIVE_SIGMA, 2)
    return BandSpec(name, seeing, range_, depth, (depth - 0.2, depth + 0.2), _ZP, sky, f"decam2014-{name}",
                    10 * exposure_s, gain_e_per_adu=4.0, read_noise_e=7.0)


PRESET = SurveyPreset(
    name="des",
    title="DES DR2 (Blanco/DECam)",
    bands=("g", "r", "i"),
    extra_bands=("z", "Y"),
    detection_band="r",
    pixel_scale_arcsec=0.263,
    stamp_size_arcsec=26.6,  # 101 px, as the papers' stamps: he2020's 2x2 binning needs >= 98
    band_specs=(
        _band("g", 1.11, (0.85, 1.45), 24.7, 22.01, 90.0),
        _band("r", 0.95, (0.75, 1.25), 24.4, 21.15, 90.0),
        _band("i", 0.88, (0.7, 1.15), 23.8, 19.89, 90.0),
        _band("z", 0.83, (0.65, 1.1), 23.1, 18.72, 90.0),
        _band("Y", 0.90, (0.7, 1.2), 21.7, 17.96, 45.0),
    ),
)
