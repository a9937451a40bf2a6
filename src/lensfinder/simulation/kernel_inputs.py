"""Metadata rows -> the arguments of the compiled render kernels.

:func:`prepare` turns a whole metadata table into arrays once (vectorised);
:func:`batch_rows` and :func:`permute` take rows of it without recomputing;
:func:`light_arguments` lays one batch out as
:func:`lensfinder.simulation.compiled.render_batch` and its relatives take
it. :mod:`lensfinder.simulation.render` runs the kernels.
"""

from __future__ import annotations

import numpy as np

from lensfinder.simulation.lensing import sersic_coefficients, sie_coefficients
from lensfinder.simulation.metadata import (
    BLOB_COLUMNS,
    CLUMP_COLUMNS,
    EXTRA_COLUMNS,
    HOST_COLUMNS,
    LENSED_LIGHT,
    LIST_COLUMNS,
    POINT_COLUMNS,
    SERSIC_KEYS,
    UNLENSED_LIGHT,
)

__all__ = ["prepare", "permute", "batch_rows", "padded", "light_arguments", "sersic_rows"]


def prepare(df, pixel_scale, grf_slope: float = 6.0):
    """Render inputs for a whole table, computed once (vectorised).

    Profile constants are float32 rows in the layouts of
    :func:`lensfinder.simulation.lensing.sersic_coefficients` (``unlensed``: (N, K, 9),
    ``lensed``: (N, 1, 9)) and :func:`lensfinder.simulation.lensing.sie_coefficients`
    (``sie``: (N, 12)); absent components get amplitude 0 (and harmless
    R_sersic = n_sersic = 1), which the kernels skip. ``grf_slope``: the slope of the
    potential perturbation of rows without a ``grf_slope`` (metadata written before the
    column, or NaN there).
    """
    n_rows = len(df)

    def col(name):
        return np.nan_to_num(df[name].to_numpy(dtype=float), nan=0.0)

    def profile_rows(prefix):
        return sersic_rows(np.stack([col(f"{prefix}_{key}") for key in SERSIC_KEYS], axis=-1), pixel_scale)

    prep = {
        "unlensed": np.stack([profile_rows(p) for p in UNLENSED_LIGHT], axis=1),
        "lensed": np.stack([profile_rows(p) for p in LENSED_LIGHT], axis=1),
        "sie": np.stack([np.broadcast_to(v, (n_rows,)) for v in
                         sie_coefficients(col("theta_E"), col("e1"), col("e2"), col("center_x"), col("center_y"))],
                        axis=-1),
        "shear": np.stack([col("gamma1"), col("gamma2")], axis=-1).astype(np.float32),
    }
    for c in LIST_COLUMNS:
        if c in df:
            prep[c] = df[c].to_numpy()
        else:  # metadata written before the column existed (clump e1, e2: round clumps)
            prep[c] = np.empty(n_rows, dtype=object)
            for i in range(n_rows):
                prep[c][i] = [] if c not in ("clump_e1", "clump_e2") else [0.0] * len(df["clump_amp"].iloc[i])
    for c, default in HOST_COLUMNS.items():
        prep[c] = df[c].to_numpy() if c in df else np.full(n_rows, default)
    prep["host_band"] = df["host_band"].to_numpy() if "host_band" in df else np.full(n_rows, "")
    for c in ("psf_fwhm_arcsec", "light_supersampling", "light_supersampling_radius_pix", "psf_truncation_sigma",
              "image_seed", "sky_sigma", "gain", "noiseless"):
        prep[c] = df[c].to_numpy()
    # light_supersampling_levels: 0 in metadata written before the nested refinement of the centres
    for c, default in (("psf_model", "gaussian"), ("psf_beta", np.nan), ("psf_radius_arcsec", np.nan),
                       ("light_supersampling_levels", 0)):
        prep[c] = df[c].to_numpy() if c in df else np.full(n_rows, default)
    prep["snr_sky"] = df["sky_sigma"].to_numpy(dtype=np.float32).copy()
    slope = df["grf_slope"].to_numpy(dtype=float) if "grf_slope" in df else np.full(n_rows, np.nan)
    prep["grf_slope"] = np.where(np.isfinite(slope), slope, float(grf_slope))
    return prep


def permute(prep, order):
    """:func:`prepare` output with its rows in ``order``."""
    return {key: value[order] for key, value in prep.items()}


def batch_rows(prep, sl):
    """The rows ``sl`` (a slice: views, no copies) of :func:`prepare` output."""
    return {key: value[sl] for key, value in prep.items()}


def padded(lists, columns, n_img):
    """Per-image lists of equal length per column -> float64 array (n_img, max length, len(columns))."""
    n_max = max((len(v) for v in lists[columns[0]]), default=0)
    out = np.zeros((n_img, n_max, len(columns)))
    if n_max == 0:
        return out
    for i in range(n_img):
        k = len(lists[columns[0]][i])
        for j, c in enumerate(columns):
            out[i, :k, j] = lists[c][i]
    return out


def light_arguments(batch, xg, yg, pixel_scale):
    """The light arguments of the compiled kernels (from ``unlensed`` to the supersampling) for one batch
    (the potential perturbation with each row's ``grf_slope``)."""
    n_img, n = len(batch["psf_fwhm_arcsec"]), len(xg)
    subhalo = padded(batch, ("subhalo_theta_E", "subhalo_center_x", "subhalo_center_y"), n_img).astype(np.float32)
    unlensed = batch["unlensed"]
    extras = padded(batch, EXTRA_COLUMNS, n_img)
    if extras.shape[1]:  # satellites, group members, field galaxies; padding has amplitude 0
        unlensed = np.concatenate([unlensed, sersic_rows(extras, pixel_scale)], axis=1)
    lensed = batch["lensed"]
    clumps = padded(batch, CLUMP_COLUMNS, n_img)
    if clumps.shape[1]:  # source substructure and more sources, lensed like the source
        lensed = np.concatenate([lensed, sersic_rows(clumps, pixel_scale)], axis=1)
    unlensed_blobs, points = padded(batch, BLOB_COLUMNS, n_img), padded(batch, POINT_COLUMNS, n_img)
    blobs = np.zeros((n_img, unlensed_blobs.shape[1] + points.shape[1], 5))
    blobs[:, :unlensed_blobs.shape[1], :4] = unlensed_blobs
    blobs[:, unlensed_blobs.shape[1]:, :3] = points  # lensed point images: sigma 0, flagged lensed
    blobs[:, unlensed_blobs.shape[1]:, 4] = 1.0
    rms = np.asarray(batch["grf_deflection_rms_arcsec"], dtype=float)
    with_grf = np.flatnonzero(rms > 0)
    extra = np.zeros((len(with_grf), 2, n, n), dtype=np.float32)
    extra_index = np.full(n_img, -1, dtype=np.int64)
    for m, i in enumerate(with_grf):  # potential perturbation (semi-real recipe)
        from lensfinder.simulation.semireal import grf_deflection

        extra[m, 0], extra[m, 1] = grf_deflection(int(batch["grf_seed"][i]), float(rms[i]), n, pixel_scale,
                                                  float(batch["grf_slope"][i]))
        extra_index[i] = m
    return (xg, yg, np.ascontiguousarray(unlensed), np.ascontiguousarray(batch["sie"]),
            np.ascontiguousarray(batch["shear"]), subhalo, np.ascontiguousarray(lensed),
            np.ascontiguousarray(blobs, dtype=np.float32), extra, extra_index, float(pixel_scale),
            int(batch["light_supersampling"][0]), int(batch["light_supersampling_radius_pix"][0]),
            int(batch["light_supersampling_levels"][0]))


def sersic_rows(values, pixel_scale):
    """Sersic coefficient rows (..., 9) from (..., 7) arrays of SERSIC_KEYS values (padding: amplitude 0)."""
    amp, R, nn, e1, e2, cx, cy = np.moveaxis(values, -1, 0)
    c = sersic_coefficients(amp * pixel_scale**2, np.where(R > 0, R, 1.0), np.where(nn > 0, nn, 1.0), e1, e2, cx, cy)
    return np.stack([np.broadcast_to(v, amp.shape) for v in c], axis=-1)
