"""The metadata table of simulated images: its columns, their types, rows -> frame.

One row per image holds every parameter that made it (``docs/simulation.md``
lists the columns), so :func:`lensfinder.simulation.render.render_from_metadata`
re-creates any image from its row alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SERSIC_KEYS", "UNLENSED_LIGHT", "LENSED_LIGHT", "FLOAT_COLUMNS", "LIST_COLUMNS", "HOST_COLUMNS",
           "rows_to_frame", "empty_frame"]

#: Parameters of a Sersic component (lenstronomy's SERSIC_ELLIPSE), columns ``{component}_{key}``.
SERSIC_KEYS = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
#: Light components drawn without lensing (lens galaxy, bulge+disk disk, pair companion).
UNLENSED_LIGHT = ("lens_light", "disk", "companion")
#: Lensed light component.
LENSED_LIGHT = ("source",)

FLOAT_COLUMNS = (
    ["theta_E", "e1", "e2", "center_x", "center_y", "gamma1", "gamma2", "lens_q", "lens_phi_deg",
     "z_d", "z_s", "m200_msun", "sigma_km_s"]
    + [f"{c}_{k}" for c in ("lens_light", "source", "companion", "disk") for k in SERSIC_KEYS]
    + ["mag_lens", "mag_source", "mag_companion", "bulge_to_disk"]
)
LIST_COLUMNS = ("subhalo_theta_E", "subhalo_center_x", "subhalo_center_y", "subhalo_mass_msun",
                "clump_amp", "clump_R_sersic", "clump_n_sersic", "clump_center_x", "clump_center_y")
#: semi-real columns and their values for fully simulated rows
HOST_COLUMNS = {"host_file": "", "host_row": -1, "host_object_id": "", "aug_rot90": 0, "aug_flip": False,
                "grf_seed": 0, "grf_deflection_rms_arcsec": 0.0, "arc_peak_ratio": float("nan"),
                "arc_flux_ratio": float("nan"), "host_flux": float("nan"), "host_flux_radius_arcsec": float("nan"),
                "aug_rotation_deg": 0.0, "aug_shift_x_pix": 0, "aug_shift_y_pix": 0, "aug_crop_left": 0,
                "aug_crop_right": 0, "aug_crop_bottom": 0, "aug_crop_top": 0, "aug_flux_scale": 1.0, "aug_seed": 0,
                "aug_interpolation_order": 3, "psf_tile_file": "", "psf_catalog_file": "", "epsf_settings": "",
                "epsf_n_stars": -1, "psf_kernel_hash": ""}
_HOST_DTYPES = {"host_row": np.int64, "aug_rot90": np.int64, "aug_flip": bool, "grf_seed": np.uint64,
                "grf_deflection_rms_arcsec": float, "arc_peak_ratio": float, "arc_flux_ratio": float,
                "host_flux": float, "host_flux_radius_arcsec": float, "aug_rotation_deg": float,
                "aug_shift_x_pix": np.int64, "aug_shift_y_pix": np.int64, "aug_crop_left": np.int64,
                "aug_crop_right": np.int64, "aug_crop_bottom": np.int64, "aug_crop_top": np.int64,
                "aug_flux_scale": float, "aug_seed": np.uint64, "aug_interpolation_order": np.int64,
                "epsf_n_stars": np.int64}
_HEAD_COLUMNS = ["object_id", "is_lens", "kind", "recipe", "seed", "shard", "index", "image_seed"]
_OBS_COLUMNS = ["stamp_size", "pixel_scale_arcsec", "zeropoint_mag", "psf_fwhm_arcsec", "psf_truncation_sigma",
                "psf_model", "psf_beta", "psf_radius_arcsec",
                "light_supersampling", "light_supersampling_radius_pix", "sky_sigma", "gain", "snr", "noiseless"]


def rows_to_frame(rows):
    """The metadata table of per-image parameter dicts (from :func:`lensfinder.simulation.draw.draw_image_params`).

    Parameters
    ----------
    rows : list of dict
        One dict per image; absent components become NaN, absent lists empty.

    Returns
    -------
    pandas.DataFrame
        Every metadata column, in a fixed order and with fixed dtypes.
    """
    import pandas as pd

    data = {c: [r[c] for r in rows] for c in _HEAD_COLUMNS}
    for c in FLOAT_COLUMNS:
        data[c] = np.array([r.get(c, np.nan) for r in rows], dtype=float)
    for c in LIST_COLUMNS:
        data[c] = [list(map(float, r.get(c, []))) for r in rows]
    data["n_subhalo"] = np.array([len(r.get("subhalo_theta_E", [])) for r in rows], dtype=np.int32)
    data["n_clump"] = np.array([len(r.get("clump_amp", [])) for r in rows], dtype=np.int32)
    for c, default in HOST_COLUMNS.items():
        data[c] = [r.get(c, default) for r in rows]
    for c in _OBS_COLUMNS:
        data[c] = [r[c] for r in rows]
    df = pd.DataFrame(data)
    df["image_seed"] = df["image_seed"].astype(np.uint64)
    for c in ("seed", "shard", "index", "stamp_size", "light_supersampling", "light_supersampling_radius_pix"):
        df[c] = df[c].astype(np.int64)
    df["is_lens"] = df["is_lens"].astype(bool)
    df["noiseless"] = df["noiseless"].astype(bool)
    df = df.astype(_HOST_DTYPES)
    return df


def empty_frame(rows):
    """:func:`rows_to_frame`, or a table with the metadata columns and no rows when ``rows`` is empty."""
    if rows:
        return rows_to_frame(rows)
    import pandas as pd

    cols = _HEAD_COLUMNS + FLOAT_COLUMNS + list(LIST_COLUMNS) + ["n_subhalo", "n_clump"] + list(HOST_COLUMNS) + _OBS_COLUMNS
    return pd.DataFrame({c: [] for c in cols})
