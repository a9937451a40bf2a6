"""The metadata table of simulated images: its columns, their types, rows -> frame.

One row per image holds every parameter that made it (``docs/simulation.md``
lists the columns), so :func:`lensfinder.simulation.render.render_from_metadata`
re-creates any image from its row alone.
"""

from __future__ import annotations

import numpy as np

from lensfinder.constants import HOST_BAND_PREFIXES, MOFFAT_FIT_PREFIXES

__all__ = ["SERSIC_KEYS", "UNLENSED_LIGHT", "LENSED_LIGHT", "EXTRA_COLUMNS", "CLUMP_COLUMNS", "BLOB_COLUMNS",
           "POINT_COLUMNS", "FLOAT_COLUMNS", "LIST_COLUMNS", "TEXT_COLUMNS", "HOST_COLUMNS", "rows_to_frame",
           "columns_to_frame", "empty_frame"]

#: Parameters of a Sersic component (lenstronomy's SERSIC_ELLIPSE), columns ``{component}_{key}``.
SERSIC_KEYS = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
#: Light components drawn without lensing (lens galaxy, bulge+disk disk, pair companion).
UNLENSED_LIGHT = ("lens_light", "disk", "companion")
#: Lensed light component.
LENSED_LIGHT = ("source",)
#: More unlensed Sersic components (satellites, group members, field galaxies), one list per key.
EXTRA_COLUMNS = tuple(f"extra_{k}" for k in SERSIC_KEYS)
#: Lensed Sersic components beside the source (clumps, knots, more sources); e1/e2 absent: round.
CLUMP_COLUMNS = tuple(f"clump_{k}" for k in SERSIC_KEYS)
#: Unlensed point-like light (knots, stars, tails): counts, centre (arcsec), Gaussian sigma (arcsec; 0: a point).
BLOB_COLUMNS = ("blob_amp", "blob_center_x", "blob_center_y", "blob_sigma")
#: Images of a lensed point source (lenstronomy's LENSED_POSITION): counts and positions, arcsec.
POINT_COLUMNS = ("point_amp", "point_ra_image", "point_dec_image")

FLOAT_COLUMNS = (
    ["theta_E", "e1", "e2", "center_x", "center_y", "gamma1", "gamma2", "lens_q", "lens_phi_deg",
     "z_d", "z_s", "m200_msun", "sigma_km_s"]
    + [f"{c}_{k}" for c in ("lens_light", "source", "companion", "disk") for k in SERSIC_KEYS]
    + ["mag_lens", "mag_source", "mag_companion", "bulge_to_disk", "spiral_arms", "spiral_pitch_deg",
       "point_source_x", "point_source_y",
       "point_source_amp", "arc_snr_target", "arc_snr", "arc_visible_snr"]
)
LIST_COLUMNS = (("subhalo_theta_E", "subhalo_center_x", "subhalo_center_y", "subhalo_mass_msun")
                + CLUMP_COLUMNS[:3] + CLUMP_COLUMNS[5:] + CLUMP_COLUMNS[3:5] + EXTRA_COLUMNS + BLOB_COLUMNS
                + POINT_COLUMNS)
#: text columns and their value where they do not apply
TEXT_COLUMNS = {"lens_light_model": "", "source_model": "", "host_split": ""}
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
_EMPTY: list = []
_HEAD_COLUMNS = ["object_id", "is_lens", "kind", "recipe", "seed", "shard", "index", "image_seed"]
_OBS_COLUMNS = ["stamp_size", "pixel_scale_arcsec", "zeropoint_mag", "psf_fwhm_arcsec", "psf_truncation_sigma",
                "psf_model", "psf_beta", "psf_radius_arcsec",
                "light_supersampling", "light_supersampling_radius_pix", "light_supersampling_levels", "sky_sigma", "gain", "snr", "noiseless"]


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
    columns = {c: [r[c] for r in rows] for c in _HEAD_COLUMNS + _OBS_COLUMNS}
    for c in FLOAT_COLUMNS:
        columns[c] = np.array([r.get(c, np.nan) for r in rows], dtype=float)
    for c in LIST_COLUMNS:
        if any(c in r for r in rows):
            columns[c] = [list(map(float, r.get(c, []))) for r in rows]
    for c, default in {**HOST_COLUMNS, **TEXT_COLUMNS}.items():
        if any(c in r for r in rows):
            columns[c] = [r.get(c, default) for r in rows]
    # semi-real rows: their host tile's Moffat fits and the host's seeing and zero point per band (NaN where a
    # row has none), after the fixed columns
    for c in sorted({c for r in rows for c in r if c.startswith(MOFFAT_FIT_PREFIXES + HOST_BAND_PREFIXES)}):
        columns[c] = np.array([r.get(c, np.nan) for r in rows], dtype=float)
    return columns_to_frame(columns, len(rows))


def columns_to_frame(columns, n):
    """The metadata table of ``n`` images from a mapping column -> values (length ``n``).

    Columns left out take their value for "does not apply": NaN, an empty
    list, the defaults of :data:`HOST_COLUMNS` and :data:`TEXT_COLUMNS`;
    the head and observation columns are required; other columns (the
    amplitudes of more bands) follow the fixed ones.
    """
    import pandas as pd

    data = {c: columns[c] for c in _HEAD_COLUMNS}
    for c in FLOAT_COLUMNS:
        data[c] = np.asarray(columns[c], dtype=float) if c in columns else np.full(n, np.nan)
    for c in LIST_COLUMNS:
        if c in columns:
            data[c] = columns[c]
        elif c in ("clump_e1", "clump_e2"):  # round clumps
            data[c] = [[0.0] * len(v) if len(v) else _EMPTY for v in data["clump_amp"]]
        else:  # one shared empty list (read only, as every list of the table): ~1 us per row saved
            data[c] = [_EMPTY] * n
    data["n_subhalo"] = np.array([len(v) for v in data["subhalo_theta_E"]], dtype=np.int32)
    data["n_clump"] = np.array([len(v) for v in data["clump_amp"]], dtype=np.int32)
    for c, default in {**HOST_COLUMNS, **TEXT_COLUMNS}.items():
        data[c] = columns[c] if c in columns else [default] * n
    for c in _OBS_COLUMNS:
        data[c] = columns[c]
    for c in columns:  # more bands' amplitudes (``*_amp_{band}``), after the fixed columns
        if c not in data:
            data[c] = columns[c]
    # the types, set before the table is made (per column after, pandas costs ~10 us per row)
    data["image_seed"] = np.asarray(data["image_seed"], dtype=np.uint64)
    for c in ("seed", "shard", "index", "stamp_size", "light_supersampling", "light_supersampling_radius_pix",
              "light_supersampling_levels"):
        data[c] = np.asarray(data[c], dtype=np.int64)
    for c in ("is_lens", "noiseless"):
        data[c] = np.asarray(data[c], dtype=bool)
    for c, dtype in _HOST_DTYPES.items():
        data[c] = np.asarray(data[c], dtype=dtype)
    return pd.DataFrame(data)


def empty_frame(rows):
    """:func:`rows_to_frame`, or a table with the metadata columns and no rows when ``rows`` is empty."""
    if rows:
        return rows_to_frame(rows)
    import pandas as pd

    cols = (_HEAD_COLUMNS + FLOAT_COLUMNS + list(LIST_COLUMNS) + ["n_subhalo", "n_clump"] + list(HOST_COLUMNS)
            + list(TEXT_COLUMNS) + _OBS_COLUMNS)
    return pd.DataFrame({c: [] for c in cols})
