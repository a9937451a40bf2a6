"""Matched-aperture photometry of the mock survey's bands: the catalogue's GAaP-like magnitudes and colours.

KiDS DR4 measures its colours with GAaP (Kuijken et al. 2019, section 4.2):
every band is first brought to a common PSF and then measured in the same
aperture, set by the source's size on the detection image with a minimum
aperture, so that the aperture holds the same part of the galaxy in every
band. :func:`matched_aperture_magnitudes` does the same with photutils: each
band is convolved to the worst PSF of the tile with a matching kernel
(``photutils.psf_matching.make_kernel`` between the bands' Moffat PSFs), then summed in one elliptical aperture per detection
(``photutils.aperture``) at the detection band's position and shape.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MIN_APERTURE_ARCSEC", "MAX_APERTURE_ARCSEC", "APERTURE_SCALE", "matched_aperture_magnitudes"]

#: Minimum aperture radius, arcsec (GAaP's MIN_APER of 0.7", Kuijken et al. 2019, as a top-hat radius).
MIN_APERTURE_ARCSEC = 0.7
#: Largest aperture semi-axis, arcsec (GAaP caps its apertures at 2").
MAX_APERTURE_ARCSEC = 2.0
#: Aperture semi-axes in units of the detection's second-moment semi-axes.
APERTURE_SCALE = 2.0
#: Radius of the PSF images the matching kernels are made from, arcsec.
_PSF_RADIUS_ARCSEC = 4.0


def _matching_kernel(fwhm_from, beta_from, fwhm_to, beta_to, pixel_scale_arcsec):
    from lensfinder.simulation.optics import moffat_matching_kernel

    return moffat_matching_kernel(fwhm_from, beta_from, fwhm_to, beta_to, pixel_scale_arcsec, _PSF_RADIUS_ARCSEC)


def matched_aperture_magnitudes(band_images: dict, x_pix, y_pix, a_pix, b_pix, theta_deg,
                                pixel_scale_arcsec: float) -> pd.DataFrame:
    """Magnitudes and errors of every detection in every band, PSF-matched, in one aperture per detection.

    Parameters
    ----------
    band_images : dict
        ``{band: (image, weight, zeropoint_mag, psf_fwhm_arcsec, moffat_beta)}``: counts,
        inverse-variance weight (0: no data), zero point and Moffat PSF of each band, same WCS.
    x_pix, y_pix : array_like
        Detection-band centroids, 0-based pixels.
    a_pix, b_pix : array_like
        Second-moment semi-axes on the detection image, pixels.
    theta_deg : array_like
        Position angle of the major axis, degrees counter-clockwise from +x.
    pixel_scale_arcsec : float

    Returns
    -------
    pandas.DataFrame
        ``MAG_GAAP_<band>`` and ``MAGERR_GAAP_<band>`` (AB; NaN where the aperture flux is not positive).
    """
    from photutils.aperture import EllipticalAperture
    from scipy.signal import fftconvolve

    x = np.asarray(x_pix, dtype=float)
    out = {}
    if len(x) == 0:
        for band in band_images:
            out[f"MAG_GAAP_{band}"] = out[f"MAGERR_GAAP_{band}"] = np.zeros(0)
        return pd.DataFrame(out)
    r_min = MIN_APERTURE_ARCSEC / pixel_scale_arcsec
    r_max = MAX_APERTURE_ARCSEC / pixel_scale_arcsec
    a = np.clip(np.hypot(APERTURE_SCALE * np.nan_to_num(np.asarray(a_pix, dtype=float)), r_min), r_min, r_max)
    b = np.clip(np.hypot(APERTURE_SCALE * np.nan_to_num(np.asarray(b_pix, dtype=float)), r_min), r_min, r_max)
    b = np.minimum(a, b)
    theta = np.deg2rad(np.nan_to_num(np.asarray(theta_deg, dtype=float)))
    positions = np.column_stack([x, np.asarray(y_pix, dtype=float)])
    # the shapes differ per detection: one exact-overlap mask each, reused in every band
    masks = [EllipticalAperture(p, ai, bi, theta=ti).to_mask(method="exact")
             for p, ai, bi, ti in zip(positions, a, b, theta)]
    target = max(band_images.values(), key=lambda v: v[3])
    for band, (image, weight, zp, fwhm, beta) in band_images.items():
        data = np.asarray(image, dtype=np.float64)
        if fwhm < target[3]:
            data = fftconvolve(data, _matching_kernel(fwhm, beta, target[3], target[4], pixel_scale_arcsec),
                               mode="same")
        # the aperture sum's noise: the unconvolved background (the matching kernel keeps the flux; for
        # apertures wider than the kernel the sum's variance is nearly that of the unconvolved image)
        # (photutils' aperture_photometry: sum of data x overlap, error sqrt(sum of variance x overlap))
        w = np.asarray(weight, dtype=np.float64)
        variance = np.where(w > 0, 1.0 / np.maximum(w, 1e-30), 0.0)
        flux = np.array([m.get_values(data).sum() for m in masks])
        err = np.sqrt([m.get_values(variance).sum() for m in masks])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"MAG_GAAP_{band}"] = np.where(flux > 0, zp - 2.5 * np.log10(flux), np.nan)
            out[f"MAGERR_GAAP_{band}"] = np.where(flux > 0, 2.5 / np.log(10) * err / flux, np.nan)
    return pd.DataFrame(out)
