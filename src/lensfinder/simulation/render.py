"""Rendering: metadata rows -> images, batched onto the compiled kernels.

Rows that share their numerics render together (:mod:`lensfinder.simulation.compiled`
for the light, lensing, Gaussian PSF and noise; Moffat and tile-ePSF kernels
by FFT); an image comes out bit for bit the same alone or in any batch.
"""

from __future__ import annotations


import numpy as np

from lensfinder.io import InputError
from lensfinder.simulation.colours import band_view
from lensfinder.simulation.kernel_inputs import batch_rows, light_arguments, permute, prepare
from lensfinder.simulation.metadata import rows_to_frame
from lensfinder.simulation.optics import (
    convolve_kernel,
    convolve_moffat,
    fwhm_to_sigma,
    gaussian_taps,
    noise_arguments,
    pixel_grid,
)

__all__ = ["render_images", "render_from_metadata", "arc_scales"]


def render_images(table, noiseless: bool | None = None, batch_size: int = 32, progress: bool = False,
                  with_hosts: bool = True, grf_slope: float = 6.0, with_arc_snr: bool = False, band: str | None = None):
    """Render the images described by a metadata table (or list of row dicts).

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        Metadata rows (:func:`lensfinder.simulation.shards.simulate_shard` output or a subset of it).
    noiseless : bool, optional
        Leave noise out; ``None`` follows each row's ``noiseless`` column.
    batch_size : int
        Images rendered together (the kernels work image by image; larger
        batches only spread the per-batch Python work).
    with_hosts : bool
        Add the host stamps of semi-real rows (``False``: the arcs alone).
    grf_slope : float
        Power-spectrum slope of the potential perturbation (semi-real rows) of rows
        without a ``grf_slope`` column (metadata written before it, made with the
        recipe's ``grf_slope``, 6.0 unless set); rows with one render with their own.
    with_arc_snr : bool
        Also return each image's ``arc_snr``: the integrated S/N of its
        lensed light (``docs/simulation.md``, arc S/N), and its
        ``arc_visible_snr``: the same sum over the pixels where the lensed
        light outshines the rest of the image's light; NaN without lensed
        light (and the visible part NaN on survey hosts, whose light the
        render does not know).
    band : str, optional
        Render this band from its ``*_{band}`` columns (amplitudes, PSF,
        noise: :func:`lensfinder.simulation.colours.add_band_columns`); None:
        the detection band.

    Returns
    -------
    ndarray, float32, shape (n, stamp_size, stamp_size)
        And, with ``with_arc_snr``, two ndarrays (n,) of float: ``arc_snr`` and ``arc_visible_snr``.
    """
    import pandas as pd

    df = table if isinstance(table, pd.DataFrame) else rows_to_frame(list(table))
    hash_column = "psf_kernel_hash"  # the tile ePSF's hash that the rows' kernels are checked against
    if band is not None:
        hash_column = f"psf_kernel_hash_{band}" if f"psf_kernel_hash_{band}" in df else hash_column
        df = band_view(df, band)
    if len(df) == 0:
        empty = np.zeros((0, 0, 0), dtype=np.float32)
        return (empty, np.zeros(0), np.zeros(0)) if with_arc_snr else empty
    sizes = df["stamp_size"].unique()
    scales = df["pixel_scale_arcsec"].unique()
    if len(sizes) != 1 or len(scales) != 1:
        raise InputError("metadata: stamp_size/pixel_scale_arcsec: all rows of one render must share them")
    n, scale = int(sizes[0]), float(scales[0])
    x, y = pixel_grid(n, scale)
    xg, yg = np.ascontiguousarray(x[0]), np.ascontiguousarray(y[:, 0])
    out = np.empty((len(df), n, n), dtype=np.float32)
    arc_snr = np.full((len(df), 2), np.nan)  # arc_snr, arc_visible_snr
    # rows with the same components and numerics render together, in contiguous slices (prepare fills the
    # columns that metadata written before them lacks: psf_model, light_supersampling_levels)
    prepared = prepare(df, scale, grf_slope)
    prepared["psf_kernel_hash_column"] = np.full(len(df), hash_column, dtype=object)
    # the PSF kernel half-width is shared within a batch: rows render
    # identically alone or in any batch
    trunc = df["psf_truncation_sigma"].to_numpy(dtype=float)
    band = np.ceil(trunc * fwhm_to_sigma(df["psf_fwhm_arcsec"].to_numpy(dtype=float)) / scale).astype(int)
    keys = list(zip(df["kind"].to_numpy(), df["light_supersampling"].to_numpy(),
                    df["light_supersampling_radius_pix"].to_numpy(), prepared["light_supersampling_levels"], trunc,
                    prepared["psf_model"], band))
    first_seen = {k: i for i, k in reversed(list(enumerate(keys)))}
    order = np.array(sorted(range(len(keys)), key=lambda i: (first_seen[keys[i]], i)))
    prep = permute(prepared, order)
    bounds = []
    start = 0
    for i in range(1, len(order) + 1):
        if i == len(order) or keys[order[i]] != keys[order[start]] or i - start == batch_size:
            bounds.append((start, i))
            start = i

    with _one_blas_thread():
        _render_chunks(out, arc_snr if with_arc_snr else None, prep, order, bounds, xg, yg, scale, noiseless,
                       with_hosts, progress)
    return (out, arc_snr[:, 0].copy(), arc_snr[:, 1].copy()) if with_arc_snr else out


def render_from_metadata(row, noiseless: bool | None = None, band: str | None = None):
    """Re-create one image from its metadata row alone.

    Parameters
    ----------
    row : mapping or pandas.Series
        One row of a shard's metadata table.
    noiseless : bool, optional
        ``None`` (default) renders as the shard was made; ``True`` drops the
        noise, ``False`` adds it (from the row's ``image_seed``).
    band : str, optional
        The band to render (None: the detection band).

    Returns
    -------
    ndarray, float32, shape (stamp_size, stamp_size)
    """
    import pandas as pd

    if isinstance(row, pd.Series):
        df = row.to_frame().T.reset_index(drop=True)
        df = df.infer_objects()
    else:
        df = rows_to_frame([dict(row)]) if "n_subhalo" not in row else pd.DataFrame([dict(row)])
    return render_images(df, noiseless=noiseless, band=band)[0]


def _render_chunks(out, arc_snr, prep, order, bounds, xg, yg, scale, noiseless, with_hosts, progress):
    from lensfinder.progress import progress as _progress
    from lensfinder.simulation.semireal import augment_image, host_stamp, sky_sigma

    for lo, hi in _progress(bounds, desc="render", unit="batch", disable=not progress or None):
        batch = batch_rows(prep, slice(lo, hi))
        quiet = batch["noiseless"].astype(bool) if noiseless is None else np.full(hi - lo, bool(noiseless))
        hosts = np.flatnonzero(batch["host_file"] != "") if with_hosts else np.zeros(0, dtype=int)
        for i in hosts[batch["lensed"][hosts, 0, 8] != 0] if arc_snr is not None else ():  # S/N on the host's sky
            batch["snr_sky"][i] = sky_sigma(host_stamp(batch["host_file"][i], int(batch["host_row"][i]),
                                                       band=batch["host_band"][i] or "r"))
        direct = len(hosts) == 0 and batch["psf_model"][0] not in ("moffat", "epsf")
        images, snr = _render_batch(batch, xg, yg, scale, ~quiet, out=out if direct else None,
                                    rows=order[lo:hi] if direct else None, with_arc_snr=arc_snr is not None)
        if arc_snr is not None:
            snr[hosts, 1] = np.nan  # the arc against the host's light: not rendered here
            arc_snr[order[lo:hi]] = snr
        if images is None:  # written to out[order[lo:hi]]
            continue
        if len(hosts):
            for i in hosts:
                images[i] += host_stamp(batch["host_file"][i], int(batch["host_row"][i]), int(batch["aug_rot90"][i]),
                                        bool(batch["aug_flip"][i]), band=batch["host_band"][i] or "r")
                images[i] = augment_image(
                    images[i], float(batch["aug_rotation_deg"][i]), int(batch["aug_shift_x_pix"][i]),
                    int(batch["aug_shift_y_pix"][i]),
                    tuple(int(batch[f"aug_crop_{e}"][i]) for e in ("left", "right", "bottom", "top")),
                    float(batch["aug_flux_scale"][i]), int(batch["aug_seed"][i]),
                    int(batch["aug_interpolation_order"][i]))
        out[order[lo:hi]] = images


def _one_blas_thread():
    """Limit BLAS to one thread: the PSF matrix products are small, and
    multi-threaded OpenBLAS spins (up to 8x more CPU time on 2 cores)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _render_batch(batch, xg, yg, pixel_scale, noisy, out=None, rows=None, with_arc_snr=True):
    """PSF-convolved images of one batch (from :func:`batch_rows`), with noise where ``noisy``, and their arc S/N.

    With ``out`` (N, n, n) and ``rows`` (B,), image ``b`` is written to
    ``out[rows[b]]`` and ``None`` is returned in place of the images
    (Gaussian PSF only).

    ``xg, yg`` are the float32 pixel-centre coordinates of the columns and
    rows. The light, the lensing, the Gaussian PSF and the noise run in the
    compiled kernels of :mod:`lensfinder.simulation.compiled` (one image at a time, in
    cache); Moffat and tile-ePSF kernels are applied by FFT between the light
    and the noise kernels.
    """
    from lensfinder.simulation.compiled import add_noise, render_batch, render_light_parts
    from lensfinder.simulation.compiled_optics import arc_snr_one

    n_img, n = len(batch["psf_fwhm_arcsec"]), len(xg)
    light_args = light_arguments(batch, xg, yg, pixel_scale)
    noise_args = noise_arguments(n_img, batch["sky_sigma"], batch["gain"].astype(float),
                                 batch["image_seed"].astype(np.uint64), noisy)
    arc_snr = np.full((n_img, 2), np.nan)  # arc_snr, arc_visible_snr
    if batch["psf_model"][0] not in ("moffat", "epsf"):
        taps = gaussian_taps(batch["psf_fwhm_arcsec"].astype(float), pixel_scale,
                             float(batch["psf_truncation_sigma"][0]))
        images = out if out is not None else np.empty((n_img, n, n), dtype=np.float32)
        render_batch(images, rows if out is not None else np.arange(n_img), *light_args, taps, *noise_args,
                     batch["snr_sky"], arc_snr if with_arc_snr else arc_snr[:0])
        return (None if out is not None else images), arc_snr
    images = np.empty((n_img, n, n), dtype=np.float32)
    lensed = np.empty((n_img, n, n), dtype=np.float32)
    has = render_light_parts(images, lensed, *light_args)
    for i in range(n_img):
        if has[i] and with_arc_snr:
            images[i], arc = _convolve(np.stack([images[i], lensed[i]]), batch, i, pixel_scale)
            arc_snr[i] = arc_snr_one(arc.reshape(-1), images[i].reshape(-1), batch["snr_sky"][i], noise_args[1][i],
                                     np.empty((2, arc.size + 8), dtype=np.float32))
        else:
            images[i] = _convolve(images[i:i + 1], batch, i, pixel_scale)[0]
    add_noise(images.reshape(n_img, -1), *noise_args)  # noise_args hold the inverse gains, as render_batch's
    return images, arc_snr


def arc_scales(table, target, grf_slope: float = 6.0):
    """Factors on each row's lensed light (source, clumps, lensed point images) that give it the
    integrated S/N ``target`` (``docs/simulation.md``, arc S/N), rendered as the row says
    (``grf_slope``: as in :func:`render_images`).

    Parameters
    ----------
    table : pandas.DataFrame
        Metadata rows, one geometry (no host stamps: fully simulated rows).
    target : array_like (n,)
        Wanted ``arc_snr`` per row.

    Returns
    -------
    ndarray (n,) of float: NaN for a row without lensed light.
    """
    from lensfinder.simulation.compiled import arc_scales as _arc_scales
    from lensfinder.simulation.compiled import render_light_parts
    from lensfinder.simulation.compiled_optics import solve_arc_scale

    df = table.reset_index(drop=True)
    n, scale = int(df["stamp_size"].iloc[0]), float(df["pixel_scale_arcsec"].iloc[0])
    x, y = pixel_grid(n, scale)
    xg, yg = np.ascontiguousarray(x[0]), np.ascontiguousarray(y[:, 0])
    prep = prepare(df, scale, grf_slope)
    target = np.asarray(target, dtype=np.float64)
    out = np.full(len(df), np.nan)
    keys = list(zip(df["light_supersampling"], df["light_supersampling_radius_pix"],
                    prep["light_supersampling_levels"], df["psf_truncation_sigma"], prep["psf_model"]))
    for key in dict.fromkeys(keys):
        rows = np.flatnonzero([k == key for k in keys])
        batch = batch_rows(permute(prep, rows), slice(None))
        light_args = light_arguments(batch, xg, yg, scale)
        inv_gain = noise_arguments(len(rows), batch["sky_sigma"], batch["gain"].astype(float), 0)[1]
        scales = np.full(len(rows), np.nan)
        if key[4] not in ("moffat", "epsf"):
            taps = gaussian_taps(batch["psf_fwhm_arcsec"].astype(float), scale, float(key[3]))
            _arc_scales(scales, *light_args, taps, batch["snr_sky"], inv_gain, target[rows])
        else:
            images = np.empty((len(rows), n, n), dtype=np.float32)
            lensed = np.empty_like(images)
            has = render_light_parts(images, lensed, *light_args)
            for i in np.flatnonzero(has):
                total, arc = _convolve(np.stack([images[i], lensed[i]]), batch, i, scale).reshape(2, -1)
                rest = total - arc
                scales[i] = solve_arc_scale(arc, rest, batch["snr_sky"][i], inv_gain[i], target[rows[i]])
        out[rows] = scales
    return out


def _convolve(images, batch, i, pixel_scale):
    """``images`` (k, n, n) convolved with the PSF of row ``i`` of a batch: a Moffat by FFT of the
    kernel cached per (FWHM, beta, :func:`lensfinder.simulation.optics.convolve_moffat`); a tile ePSF by
    :func:`lensfinder.simulation.optics.convolve_kernel`."""
    if batch["psf_model"][i] != "moffat":
        return convolve_kernel(images, _epsf_kernel(batch, i))
    return convolve_moffat(images, float(batch["psf_fwhm_arcsec"][i]), float(batch["psf_beta"][i]),
                           float(batch["psf_radius_arcsec"][i]), pixel_scale)


def _epsf_kernel(batch, i):
    """The tile ePSF kernel of row ``i`` of a batch, checked against the hash in its metadata."""
    from lensfinder.simulation.epsf import tile_psf_kernel

    column = batch["psf_kernel_hash_column"][i] if "psf_kernel_hash_column" in batch else "psf_kernel_hash"
    if not str(batch["psf_tile_file"][i]):  # a band of a one-band tile {tile}.fits, written before it was refused
        raise InputError(f"metadata: {column.replace('psf_kernel_hash', 'psf_tile_file')}: empty in a row with "
                         "psf_model epsf: no tile image of this band to build its ePSF from")
    psf = tile_psf_kernel(str(batch["psf_tile_file"][i]), str(batch["psf_catalog_file"][i]),
                          str(batch["epsf_settings"][i]))
    expected = str(batch["psf_kernel_hash"][i])
    if expected and psf.hash != expected:
        raise InputError(f"{batch['psf_tile_file'][i]}: {column}: the tile's ePSF is {psf.hash}, the metadata "
                         f"expects {expected} (tile, catalogue or photutils changed since the shard was made)")
    return psf.kernel.astype(np.float32)
