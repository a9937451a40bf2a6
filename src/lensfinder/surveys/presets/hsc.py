"""HSC-SSP Wide: the Subaru Hyper Suprime-Cam survey (the HOLISMOKES and SuGOHI lens searches).

Sources
-------
- Aihara et al. 2019, PASJ 71, 114 (PDR2), table 2, Wide layer at full
  depth: median seeing g 0.77", r 0.76", i 0.58", z 0.68", y 0.68"; 5-sigma
  point-source depth g 26.6, r 26.2, i 26.2, z 25.3, y 24.5 (2" aperture).
- Aihara et al. 2018, PASJ 70, S4, section 3: 0.168"/px, coadds calibrated to
  a zero point of 27.0 mag (FLUXMAG0 = 10**(0.4 * 27)).
- Seeing ranges are approximate (about the central 90 % of the patches);
  sky levels are dark-sky values at a good site (lenstronomy's LSST
  settings), not HSC measurements. Filter curves: speclite ``hsc2017-*``.
"""

from __future__ import annotations

from lensfinder.surveys.presets.base import BandSpec, SurveyPreset

__all__ = ["PRESET"]

_ZP = 27.0  # Aihara et al. 2018, PASJ 70, S4: HSC coadd zero point

PRESET = SurveyPreset(
    name="hsc",
    title="HSC-SSP PDR2 Wide (Subaru/Hyper Suprime-Cam)",
    bands=("g", "r", "i"),
    extra_bands=("z", "y"),
    detection_band="r",
    pixel_scale_arcsec=0.168,
    stamp_size_arcsec=20.0,
    band_specs=(
        BandSpec("g", 0.77, (0.55, 1.05), 26.6, (26.4, 26.8), _ZP, 22.26, "hsc2017-g", 600.0),
        BandSpec("r", 0.76, (0.55, 1.05), 26.2, (26.0, 26.4), _ZP, 21.2, "hsc2017-r", 600.0),
        BandSpec("i", 0.58, (0.45, 0.8), 26.2, (26.0, 26.4), _ZP, 20.48, "hsc2017-i", 1200.0),
        BandSpec("z", 0.68, (0.5, 0.95), 25.3, (25.1, 25.5), _ZP, 19.6, "hsc2017-z", 1200.0),
        BandSpec("y", 0.68, (0.5, 0.95), 24.5, (24.3, 24.7), _ZP, 18.61, "hsc2017-y", 1200.0),
    ),
)
