"""Semi-real rows in several bands: each band's arcs painted with the host stamp's own seeing and zero point.

A semi-real row carries its host's seeing and zero point in every band its stamp
index gives (``host_psf_fwhm_arcsec_{band}``, ``host_zeropoint_mag_{band}``,
:data:`lensfinder.constants.HOST_BAND_PREFIXES`, copied by
:func:`lensfinder.simulation.semireal.draw_host`). :func:`apply_host_bands` takes
the other bands' columns that :func:`lensfinder.simulation.colours.add_band_columns`
wrote from the detection band (its seeing times the preset's ratio, amplitudes on
one zero point) to the host's values. Rows and bands without them keep what the
colours gave. It also gives each band of a semi-real row its own stream of the
noise that fills what a shift or rotation of the host leaves empty
(``aug_seed_{band}``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["apply_host_bands"]


def apply_host_bands(df, det: str, others, fill_stream=()) -> None:
    """``df``'s ``psf_fwhm_arcsec_{b}``, ``*_amp_{b}`` and ``aug_seed_{b}`` of every band ``b`` in ``others``,
    in place.

    - ``psf_fwhm_arcsec_{b}``: the host's ``host_psf_fwhm_arcsec_{b}`` (rounded to 0.001", as the
      detection band's host seeing) where it is finite;
    - the amplitudes ``*_amp_{b}`` (scalars and lists): times ``10**(0.4 (zp_b - zp_det))``, so that
      the arcs are in that band's counts of the host stamp; ``zp_det`` is ``host_zeropoint_mag_{det}``,
      else the row's ``zeropoint_mag``;
    - ``aug_seed_{b}`` (where ``df`` has ``host_file`` and ``aug_seed``): the seed of the band's fill noise,
      from a stream of each row's own, ``SeedSequence([aug_seed], spawn_key=fill_stream)`` (one seed for
      every band gave them one pattern); 0 for rows without a host.
    """
    if "host_file" in df and "aug_seed" in df:
        seeds = np.zeros((len(df), len(others)), dtype=np.uint64)
        hosted = np.flatnonzero(df["host_file"].to_numpy() != "")
        for i, seed in zip(hosted, df["aug_seed"].to_numpy(dtype=np.uint64)[hosted]):
            seeds[i] = np.random.SeedSequence([int(seed)], spawn_key=fill_stream).generate_state(len(others),
                                                                                                 np.uint64)
        for k, b in enumerate(others):
            df[f"aug_seed_{b}"] = seeds[:, k] >> np.uint64(1)  # 63 bits, as aug_seed
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
