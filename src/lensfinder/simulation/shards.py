"""Shards of simulated images: draw every row, scale semi-real arcs, render.

:func:`simulate_shard` returns the image cube and its metadata table (one
row per image, ``docs/simulation.md``); ``lensfinder simulate`` writes them.
"""

from __future__ import annotations

import logging

import numpy as np

from lensfinder.io import InputError
from lensfinder.simulation.draw import draw_image_params
from lensfinder.simulation.lensing import sersic_total_flux
from lensfinder.simulation.metadata import empty_frame
from lensfinder.simulation.recipes import Recipe, recipe_params
from lensfinder.simulation.render import arc_scales, render_images

__all__ = ["simulate_shard", "draw_table", "render_table", "with_host_geometry"]

log = logging.getLogger(__name__)


def simulate_shard(recipe: str | Recipe, n: int, seed: int, shard: int, params: dict | None = None,
                   set_name: str = "sim", noiseless: bool = False, batch_size: int = 32, progress: bool = True):
    """Simulate one shard of ``n`` images.

    Parameters
    ----------
    recipe : str or Recipe
        A key of :data:`lensfinder.simulation.recipes.RECIPES`, or a recipe
        already made by :func:`lensfinder.simulation.recipes.recipe_params`.
    n : int
        Number of images.
    seed, shard : int
        Set seed and shard number; image ``i`` uses ``SeedSequence([seed, shard, i])``.
    params : dict, optional
        Overrides of the recipe's values (with a recipe name only).
    set_name : str
        Prefix of ``object_id`` (``"{set}-{seed}-{shard}-{i}"``).
    noiseless : bool
        Skip noise (recorded in the metadata).
    batch_size : int
        Images rendered per call of the compiled kernels.
    progress : bool
        Show progress bars.

    Returns
    -------
    images : ndarray, float32, shape (n, stamp_size, stamp_size), or (n, n_bands, stamp_size, stamp_size)
        Counts with zero point ``zeropoint_mag``; with the recipe's ``bands``,
        one image per band, in their order.
    metadata : pandas.DataFrame
        One row per image (see ``docs/simulation.md``).
    """
    if int(n) < 0:
        raise InputError(f"n: expected a non-negative number of images, got {n!r}")
    if isinstance(recipe, Recipe):
        if params:
            raise ValueError("simulate_shard: params apply to a recipe name, not to a Recipe")
        p = recipe
    else:
        p = recipe_params(recipe, params)
    if p.semi_real:
        p = with_host_geometry(p)
    df = draw_table(p, seed, shard, np.arange(int(n)), set_name, noiseless, progress)
    images, df = render_table(df, p.stamp_size, batch_size, progress, p.grf_slope, p.bands, p.preset,
                              p.band_depth_scatter_mag, p.colour_scatter_mag)
    _check_finite(images, df, p)
    log.info("simulated %d images (%d lenses) with recipe %s, seed %d, shard %d",
             len(df), int(df["is_lens"].sum()) if len(df) else 0, p.name, seed, shard)
    return images, df


def _check_finite(images, df, p: Recipe) -> None:
    """Refuse a shard whose rendered images (not the survey hosts' own pixels) are not all finite: magnitudes
    or a zero point far outside a survey's overflow the counts (``--set zeropoint_mag=80`` gave NaN cubes)."""
    if not len(images):
        return
    rendered = df["host_file"].to_numpy() == ""
    bad = rendered & ~np.isfinite(images.reshape(len(images), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"recipe {p.name}: {int(bad.sum())} of {len(images)} images have non-finite pixels (e.g. "
                         f"{df['object_id'].iat[first]}, mag_lens {df['mag_lens'].iat[first]:.3g}); check the "
                         f"magnitude parameters and zeropoint_mag ({p.zeropoint_mag:g}), which must keep the counts "
                         "finite")


def draw_table(p: Recipe, seed: int, shard: int, indices, set_name: str = "sim", noiseless: bool = False,
               progress: bool = False, stream: str = ""):
    """The metadata rows of images ``indices`` (ascending) of a shard, drawn by the recipe's ``draw_scheme``.

    ``per_image``: image ``i`` from ``default_rng(SeedSequence([seed, shard, i]))``
    (:func:`lensfinder.simulation.draw.draw_image_params`); ``per_block``: block
    by block (:func:`lensfinder.simulation.batch.draw_block`; ``stream``: a mix
    member's own generators).
    """
    if p.draw_scheme == "per_block":
        from lensfinder.simulation.batch import draw_block

        return draw_block(p, seed, shard, indices, set_name, noiseless, stream=stream) if len(indices) else \
            empty_frame([])
    from lensfinder.progress import progress as _progress

    rows = [draw_image_params(p, seed, shard, int(i), set_name, noiseless)
            for i in _progress(indices, desc=f"draw {set_name} shard {shard}", unit="img", disable=not progress or None)]
    return empty_frame(rows)


def render_table(df, stamp_size: int, batch_size: int = 32, progress: bool = False, grf_slope: float = 6.0,
                 bands=(), preset: str = "kids", depth_scatter_mag: float = 0.0, colour_scatter_mag: float = 0.0):
    """Images of drawn rows: semi-real arcs scaled to their hosts, arcs scaled to their S/N targets
    (``arc_snr_target``), the other ``bands``' columns added (:mod:`lensfinder.simulation.colours`),
    then rendered; the rows get the images' ``arc_snr`` (detection band) and ``grf_slope`` (the
    recipe's, so that each row re-creates its image alone). ``depth_scatter_mag``
    and ``colour_scatter_mag`` (each a number, or one per row): the recipe's ``band_depth_scatter_mag``
    and ``colour_scatter_mag`` (:func:`lensfinder.simulation.colours.add_band_columns`).

    Returns
    -------
    images : ndarray, float32 (n, stamp_size, stamp_size), or (n, len(bands), stamp_size, stamp_size)
    df : pandas.DataFrame
        The rows, amplitudes updated, with ``arc_snr``.
    """
    df = _with_grf_slope(df.reset_index(drop=True), grf_slope)
    if len(df) == 0:
        shape = (0, len(bands), stamp_size, stamp_size) if bands else (0, stamp_size, stamp_size)
        return np.zeros(shape, dtype=np.float32), df
    semi = df["host_file"].to_numpy() != ""
    if semi.any():
        _scale_arcs(df, batch_size, grf_slope)
    target = df["arc_snr_target"].to_numpy(dtype=float)
    todo = np.flatnonzero(np.isfinite(target) & ~semi)  # lenses and near misses (their sources)
    if len(todo):
        _apply_arc_scale(df, todo, arc_scales(df.iloc[todo], target[todo], grf_slope))
    if bands:
        from lensfinder.simulation.colours import add_band_columns
        from lensfinder.surveys.presets import get_preset

        df = add_band_columns(df, bands, get_preset(preset), depth_scatter_mag, colour_scatter_mag)
    images, arc_snr, visible = render_images(df, noiseless=None, batch_size=batch_size, progress=progress,
                                             grf_slope=grf_slope, with_arc_snr=True)
    df["arc_snr"] = arc_snr
    df["arc_visible_snr"] = visible
    if not bands:
        return images, _typed_empty_lists(df)
    cube = np.empty((len(df), len(bands), *images.shape[1:]), dtype=np.float32)
    det = str(df["detection_band"].iat[0])
    for k, band in enumerate(bands):
        cube[:, k] = images if band == det else render_images(df, noiseless=None, batch_size=batch_size,
                                                               progress=progress, grf_slope=grf_slope, band=band)
    return cube, _typed_empty_lists(df)


def _typed_empty_lists(df):
    """``df`` with every list column whose lists are all empty (no row with a subhalo, say) holding empty
    float arrays: Parquet then stores it as a list of doubles, as where a row has values (empty Python
    lists alone are stored as ``list<null>``, so a column's type followed the rows a shard happened to hold)."""
    empty = np.empty(0)
    empty.flags.writeable = False
    for c in df.columns:
        values = df[c].to_numpy()
        if values.dtype == object and all(isinstance(v, (list, np.ndarray)) and not len(v) for v in values):
            typed = np.empty(len(values), dtype=object)
            for i in range(len(values)):
                typed[i] = empty
            df[c] = typed
    return df


def _with_grf_slope(df, grf_slope):
    """``df`` with the column ``grf_slope`` (after ``grf_deflection_rms_arcsec``): the slope its rows render with."""
    if "grf_slope" in df:
        df["grf_slope"] = float(grf_slope)
    else:
        at = df.columns.get_loc("grf_deflection_rms_arcsec") + 1 if "grf_deflection_rms_arcsec" in df else df.shape[1]
        df.insert(at, "grf_slope", np.full(len(df), float(grf_slope)))
    return df


def _apply_arc_scale(df, rows, scale):
    """Multiply the lensed light of ``rows`` (source, clumps, lensed point images, in every band) by ``scale``."""
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    for col in df.columns:
        base = col.rsplit("_amp", 1)[0] if "_amp" in col else ""
        if base not in ("source", "point_source", "clump", "point"):
            continue
        values = df[col].to_numpy().copy() if df[col].dtype == object else df[col].to_numpy(dtype=float).copy()
        for k, i in enumerate(rows):
            values[i] = [float(a) * scale[k] for a in values[i]] if isinstance(values[i], (list, np.ndarray)) \
                else values[i] * scale[k]
        df[col] = values
    df.loc[rows, "mag_source"] = df["mag_source"].to_numpy()[rows] - 2.5 * np.log10(scale)


def with_host_geometry(recipe: Recipe) -> Recipe:
    """A semi-real recipe with the stamp size, pixel scale and zero point of its host stamps.

    Raises
    ------
    InputError
        Disk stamps of another geometry, or crops that would leave nothing of the stamps.
    """
    from lensfinder.simulation.semireal import load_hosts

    geometry = load_hosts(tuple(recipe.host_stamps)).geometry()
    if recipe.disk_stamps and recipe.disk_fraction > 0:
        disks = load_hosts(tuple(recipe.disk_stamps)).geometry()
        if disks != geometry:
            raise InputError(f"disk_stamps: geometry {disks} (size, pixel scale, zero point) differs from the "
                             f"host stamps' {geometry}")
    size, scale, zeropoint = geometry
    if 2 * recipe.aug_crop_pix[1] >= size:
        raise InputError(f"--set: aug_crop_pix: crops must leave part of the {size}-pixel stamps, "
                         f"got {list(recipe.aug_crop_pix)}")
    return recipe.replace(stamp_size=size, pixel_scale_arcsec=scale, zeropoint_mag=zeropoint)


def _scale_arcs(df, batch_size, grf_slope):
    """Set arc amplitudes so that arc peak / host peak = ``arc_peak_ratio`` (Li et al. 2020, section 2.2),
    or arc flux / host flux = ``arc_flux_ratio`` (He et al. 2020, section 4.2).

    The host peak is the maximum of the central 5 x 5 pixels of the host stamp
    (after the first augmentation stage); the arc peak that of the noiseless,
    PSF-convolved arc. The host flux is the stamp's sum within
    ``host_flux_radius_arcsec`` (recorded in ``host_flux``), the arc flux the
    noiseless arc's sum over the stamp. Both before the second augmentation
    stage, which scales host and arc alike. Updates ``source_amp``,
    ``clump_amp``, ``mag_source`` (and ``host_flux``) in place.
    """
    from lensfinder.simulation.compiled_optics import solve_arc_scale
    from lensfinder.simulation.semireal import host_flux, host_stamp, sky_sigma

    lenses = np.flatnonzero(df["is_lens"].to_numpy() & (df["host_file"].to_numpy() != ""))
    if not len(lenses):
        return
    arcs = render_images(df.iloc[lenses], noiseless=True, batch_size=batch_size, with_hosts=False, grf_slope=grf_slope)
    scale = np.empty(len(lenses))
    for k, i in enumerate(lenses):
        row = df.iloc[i]
        host = host_stamp(row["host_file"], int(row["host_row"]), int(row["aug_rot90"]), bool(row["aug_flip"]))
        if np.isfinite(row["arc_snr_target"]):  # S/N against the host's sky (render.py's arc_snr)
            arc = arcs[k].reshape(-1)
            scale[k] = solve_arc_scale(arc, np.zeros_like(arc), np.float32(sky_sigma(host)),
                                       np.float32(1.0 / float(row["gain"])), float(row["arc_snr_target"]))
            continue
        if np.isfinite(row["arc_flux_ratio"]):
            flux = host_flux(host, float(row["host_flux_radius_arcsec"]), float(row["pixel_scale_arcsec"]))
            if not flux > 0:
                raise InputError(f"{row['host_file']}: host row {row['host_row']} ({row['host_object_id']}): "
                                 f"no positive flux within {row['host_flux_radius_arcsec']}\" to scale the arc to")
            df.iat[i, df.columns.get_loc("host_flux")] = flux
            scale[k] = row["arc_flux_ratio"] * flux / float(arcs[k].sum(dtype=np.float64))
            continue
        c = host.shape[0] // 2
        host_peak = float(host[c - 2:c + 3, c - 2:c + 3].max())
        if not host_peak > 0:
            raise InputError(f"{row['host_file']}: host row {row['host_row']} ({row['host_object_id']}): "
                             f"no positive central peak to scale the arc to")
        scale[k] = row["arc_peak_ratio"] * host_peak / float(arcs[k].max())
    col = df.columns.get_loc("source_amp")
    df.iloc[lenses, col] = df["source_amp"].to_numpy()[lenses] * scale
    clumps = list(df["clump_amp"])
    for k, i in enumerate(lenses):
        clumps[i] = [float(a) * scale[k] for a in clumps[i]]
    df["clump_amp"] = clumps
    flux = np.array([float(sersic_total_flux(r["source_amp"], r["source_R_sersic"], r["source_n_sersic"]))
                     + sum(float(sersic_total_flux(a, R, n)) for a, R, n in
                           zip(r["clump_amp"], r["clump_R_sersic"], r["clump_n_sersic"]))
                     for _, r in df.iloc[lenses].iterrows()])
    df.iloc[lenses, df.columns.get_loc("mag_source")] = df["zeropoint_mag"].to_numpy()[lenses] - 2.5 * np.log10(flux)
