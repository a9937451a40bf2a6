"""DESI Legacy Imaging Surveys DR10 (the ``legacy_dr10`` survey): g, r, z, as the cutout service serves them.

Sources
-------
- Dey et al. 2019, AJ 157, 168, table 4 (DECaLS): median PSF FWHM g 1.29",
  r 1.18", z 1.11"; 5-sigma depth for a 0.45" round exponential galaxy
  g 24.0, r 23.4, z 22.5; images at 0.262"/px in nanomaggies (zero point 22.5).
- Sky levels: DECam dark-sky values of lenstronomy's DES settings (g, r, z).
- Ranges are approximate. Filter curves: speclite ``decam2014-*``.
"""

from __future__ import annotations

from lensfinder.surveys.presets.base import BandSpec, SurveyPreset

__all__ = ["PRESET"]

_ZP = 22.5  # nanomaggies

PRESET = SurveyPreset(
    name="legacy",
    title="DESI Legacy Imaging Surveys DR10",
    bands=("g", "r", "z"),
    detection_band="r",
    pixel_scale_arcsec=0.262,
    stamp_size_arcsec=26.5,  # 101 px, as the search cut before presets (he2020's bin2 needs >= 98)
    band_specs=(
        BandSpec("g", 1.29, (1.0, 1.7), 24.0, (23.8, 24.2), _ZP, 22.01, "decam2014-g"),
        BandSpec("r", 1.18, (0.9, 1.55), 23.4, (23.2, 23.6), _ZP, 21.15, "decam2014-r"),
        BandSpec("z", 1.11, (0.85, 1.45), 22.5, (22.3, 22.7), _ZP, 18.72, "decam2014-z"),
    ),
)
