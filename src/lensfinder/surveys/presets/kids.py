"""KiDS DR4: the VST/OmegaCAM Kilo-Degree Survey, the papers' survey and the mock survey's model.

Sources
-------
- Kuijken et al. 2019, A&A 625, A2 (KiDS DR4), table 1: 5-sigma limiting
  magnitudes in a 2" aperture u 24.2, g 25.1, r 25.0, i 23.7 and mean PSF
  FWHM u 1.0", g 0.9", r 0.7", i 0.8"; coadds on a 0.2"/px grid.
- de Jong et al. 2015, A&A 582, A62, table 1 and section 2: exposures
  u 4x250 s, g 5x180 s, r 5x360 s, i 5x216 s; r is observed in the best
  seeing (< 0.8"), g < 0.9", u and i < 1.1".
- The FWHM and depth ranges of r, and the r sky, are the mock survey's
  (lensfinder.surveys.mock.tiles, which drew them before presets existed);
  the other bands' ranges follow the observing limits above, and their sky
  levels the dark-time (u, g) and bright-time (i) VST sky.

Pixels are counts at zero point 30 (``constants.MOCK_ZEROPOINT_MAG``), the
mock survey's and the simulations'; real KiDS coadds carry their own in the
header. speclite ships no OmegaCAM curves: SDSS (``sdss2010-*``) stands in.
"""

from __future__ import annotations

from lensfinder.constants import MOCK_ZEROPOINT_MAG
from lensfinder.surveys.presets.base import BandSpec, SurveyPreset

__all__ = ["PRESET"]

PRESET = SurveyPreset(
    name="kids",
    title="KiDS DR4 (VST/OmegaCAM)",
    bands=("g", "r", "i"),
    extra_bands=("u",),
    detection_band="r",
    pixel_scale_arcsec=0.2,
    stamp_size_arcsec=20.0,  # Li et al. 2020, section 2.1: 101 x 101 pixels
    band_specs=(
        BandSpec("g", 0.9, (0.65, 1.05), 25.1, (25.0, 25.2), MOCK_ZEROPOINT_MAG, 22.2, "sdss2010-g", 900.0),
        BandSpec("r", 0.7, (0.55, 0.9), 25.0, (24.9, 25.1), MOCK_ZEROPOINT_MAG, 20.9, "sdss2010-r", 1800.0),
        BandSpec("i", 0.8, (0.55, 1.15), 23.7, (23.6, 23.8), MOCK_ZEROPOINT_MAG, 20.2, "sdss2010-i", 1080.0),
        BandSpec("u", 1.0, (0.75, 1.25), 24.2, (24.1, 24.3), MOCK_ZEROPOINT_MAG, 22.6, "sdss2010-u", 1000.0),
    ),
)
