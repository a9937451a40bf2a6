"""Semi-real rows in several bands: each band's arcs painted with the host stamp's own seeing and zero point.

A semi-real row carries its host's seeing and zero point in every band its stamp
index gives (``host_psf_fwhm_arcsec_{band}``, ``host_zeropoint_mag_{band}``,
:data:`lensfinder.constants.HOST_BAND_PREFIXES`, copied by
:func:`lensfinder.simulation.semireal.draw_host`). :func:`apply_host_bands` takes
the other bands' columns that :func:`lensfinder.simulation.colours.add_band_columns`
wrote from the detection band (its seeing times the preset's ratio, amplitudes on
one zero point) to the host's values. Rows and bands without them keep what the
colours gave.
"""

from __future__ import annotations

import numpy as np

__all__ = ["apply_host_bands"]


def apply_host_bands(df, det: str, others) -> None:
    """``df``'s ``psf_fwhm_arcsec_{b}`` and ``*_amp_{b}`` of every band ``b`` in ``others``, in place.

    - ``psf_fwhm_arcsec_{b}``: the host's ``host_psf_fwhm_arcsec_{b}`` (rounded to 0.001", as the
      detection band's host seeing) where it is finite;
    - the amplitudes ``*_amp_{b}`` (scalars and lists): times ``10**(0.4 (zp_b - zp_det))``, so that
      the arcs are in that band's counts of the host stamp; ``zp_det`` is ``host_zeropoint_mag_{det}``,
      else the row's ``zeropoint_mag``.
    """
    zp_det = (df[f"host_zeropoint_mag_{det}"].to_numpy(dtype=float) if f"host_zeropoint_mag_{det}" in df
              else np.full(len(df), np.nan))
    zp_det = np.where(np.isfinite(zp_det), zp_det, df["zeropoint_mag"].to_numpy(dtype=float))
    for b in others:
        if f"host_psf_fwhm_arcsec_{b}" in df:
            seeing = df[f"host_psf_fwhm_arcsec_{b}"].to_numpy(dtype=float)
            if np.isfinite(seeing).any():
                df[f"psf_fwhm_arcsec_{b}"] = np.where(np.isfinite(seeing), np.round(seeing, 3),
                                                      df[f"psf_fwhm_arcsec_{b}"].to_numpy(dtype=float))
        if f"host_zeropoint_mag_{b}" not in df:
            continue
        factor = 10.0 ** (0.4 * (df[f"host_zeropoint_mag_{b}"].to_numpy(dtype=float) - zp_det))
        factor = np.where(np.isfinite(factor), factor, 1.0)
        if (factor == 1.0).all():
            continue
        for column in [c for c in df.columns if c.endswith(f"_amp_{b}")]:
            if df[column].dtype == object:  # the list components: extra, clump, blob, point
                df[column] = [[a * f for a in values] for values, f in zip(df[column], factor)]
            else:
                df[column] = df[column].to_numpy(dtype=float) * factor
