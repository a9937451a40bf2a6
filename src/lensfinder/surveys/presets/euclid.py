"""Euclid Wide Survey: VIS, with the NISP Y, J, H bands as an option (the Euclid Q1 lens searches).

Sources
-------
- lenstronomy, ``SimulationAPI/ObservationConfig/Euclid.py``: VIS PSF FWHM
  0.16", sky 22.35 mag/arcsec^2, 4 x 565 s, gain 3.1 e-/ADU, read noise 4.2 e-.
- Euclid Collaboration: Mellier et al. 2024 (arXiv:2405.13491), Wide
  Survey: 5-sigma point-source depth I_E 26.2 and Y_E, J_E, H_E 24.3;
  NISP PSF FWHM about 0.45-0.5" (approximate here).
- MER mosaics: every band resampled to 0.1"/px, in microjansky (zero point
  23.9 mag), so the NISP bands share the VIS grid and stamps need no resampling.
- NISP sky levels (zodiacal light) and all ranges are approximate.
  Filter curves: speclite ``Euclid-*``.
"""

from __future__ import annotations

from lensfinder.surveys.presets.base import BandSpec, SurveyPreset

__all__ = ["PRESET"]

_ZP = 23.9  # microjansky: -2.5 log10(1e-6 Jy / 3631 Jy)

PRESET = SurveyPreset(
    name="euclid",
    title="Euclid Wide Survey (VIS; NISP Y, J, H optional)",
    bands=("VIS",),
    extra_bands=("Y", "J", "H"),
    detection_band="VIS",
    pixel_scale_arcsec=0.1,
    stamp_size_arcsec=20.0,  # 201 x 201 pixels
    band_specs=(
        BandSpec("VIS", 0.16, (0.14, 0.18), 26.2, (26.0, 26.4), _ZP, 22.35, "Euclid-VIS", 4 * 565.0,
                 gain_e_per_adu=3.1, read_noise_e=4.2),
        BandSpec("Y", 0.45, (0.4, 0.5), 24.3, (24.1, 24.5), _ZP, 22.3, "Euclid-Y", 4 * 87.2),
        BandSpec("J", 0.47, (0.42, 0.52), 24.3, (24.1, 24.5), _ZP, 22.3, "Euclid-J", 4 * 87.2),
        BandSpec("H", 0.49, (0.44, 0.55), 24.3, (24.1, 24.5), _ZP, 22.4, "Euclid-H", 4 * 87.2),
    ),
)
