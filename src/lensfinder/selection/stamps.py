"""Stamps: square cutouts of the preselected galaxies of one tile, in every band.

Centres come from the catalogue's RA/Dec through the detection band's WCS;
each stamp is centred on the nearest coadd pixel (no resampling), the other
bands aligned on it (:mod:`lensfinder.selection.bands`), padded and flagged
at the tile edge, with its masked and NaN fractions over all bands.
Geometry, the cube and the index columns: docs/selection.md and
docs/architecture.md.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lensfinder.io import DEFAULT_BAND, InputError, read_table, require_columns, write_cube, write_table
from lensfinder.selection.bands import BandImage, band_positions, open_band_images, reference_band
from lensfinder.selection.cutouts import band_fractions, cut_stamps

__all__ = [
    "select_objects",
    "extract_stamps",
    "extract_band_stamps",
    "band_columns",
    "write_tile_stamps",
    "moffat_columns",
    "INDEX_COLUMNS",
]

log = logging.getLogger(__name__)

#: Index columns before the sample flags, with dtypes.
INDEX_COLUMNS = {
    "object_id": "str", "tile": "str", "ra": "float64", "dec": "float64",
    "x_pix": "float64", "y_pix": "float64", "edge": "bool",
    "masked_fraction": "float64", "nan_fraction": "float64",
    "psf_fwhm_arcsec": "float64", "zeropoint_mag": "float64", "pixel_scale_arcsec": "float64",
}
def select_objects(catalog: pd.DataFrame, flags: pd.DataFrame, tile: str, samples, *,
                   catalog_source: str = "catalogue", flags_source: str = "flags") -> pd.DataFrame:
    """Rows of ``tile`` selected by any of ``samples``, with the sample flags joined.

    Returns
    -------
    pandas.DataFrame
        ``ID``, ``RAJ2000``, ``DECJ2000`` and one bool column per sample, in
        catalogue order.
    """
    samples = list(samples)
    if not samples:
        raise InputError(f"{flags_source}: no sample named; expected at least one sample flag column")
    require_columns(catalog, ["ID", "KIDS_TILE", "RAJ2000", "DECJ2000"], catalog_source, "KiDS catalogue")
    require_columns(flags, ["ID", *samples], flags_source, "preselection flags")
    for s in samples:
        if not pd.api.types.is_bool_dtype(flags[s]):
            raise InputError(f"{flags_source}: {s}: expected a bool sample flag column, got dtype {flags[s].dtype}")
    tiles = catalog["KIDS_TILE"].astype(str)
    rows = catalog.loc[tiles == tile, ["ID", "RAJ2000", "DECJ2000"]]
    if rows.empty:
        present = sorted(tiles.unique())
        shown = ", ".join(present[:10]) + (", ..." if len(present) > 10 else "")
        raise InputError(f"{catalog_source}: KIDS_TILE: no row of tile {tile!r}; the catalogue holds "
                         f"{len(present)} tile(s): {shown or 'none'}")
    if flags["ID"].duplicated().any():
        dup = flags.loc[flags["ID"].duplicated(), "ID"].iloc[0]
        raise InputError(f"{flags_source}: ID: expected unique IDs, {dup!r} appears more than once")
    merged = rows.merge(flags[["ID", *samples]], on="ID", how="left", validate="many_to_one")
    n_unflagged = int(merged[samples[0]].isna().sum())
    if n_unflagged:
        log.warning("%s: %d catalogue rows of tile %s have no row in %s; treated as not selected",
                    catalog_source, n_unflagged, tile, flags_source)
    for s in samples:
        merged[s] = merged[s].fillna(False).astype(bool)
    selected = merged.loc[merged[samples].any(axis=1)].reset_index(drop=True)
    if selected.empty:
        log.warning("%s: NONE of the %d catalogue rows of tile %s is in the samples %s: no stamps",
                    flags_source, len(merged), tile, ", ".join(samples))
    return selected


def band_columns(bands) -> list[str]:
    """Per-band index columns of a cube of ``bands``: none for today's r-band layout (one band, r)."""
    if tuple(bands) == (DEFAULT_BAND,):
        return []
    return [f"{quantity}_{b}" for b in bands for quantity in ("psf_fwhm_arcsec", "zeropoint_mag")]


def extract_stamps(image, wcs, selection: pd.DataFrame, samples, tile: str, size: int,
                   psf_fwhm_arcsec: float, zeropoint_mag: float, pixel_scale_arcsec: float,
                   mask=None, weight=None, fill_value: float = 0.0):
    """Stamps and index of the selected objects of one tile in one band (the r band).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        The coadd (a memory map is fine).
    wcs : astropy.wcs.WCS
        Its celestial WCS.
    selection : pandas.DataFrame
        ``ID``, ``RAJ2000``, ``DECJ2000`` and the sample flags
        (:func:`select_objects`).
    samples : sequence of str
    tile : str
    size : int
    psf_fwhm_arcsec, zeropoint_mag, pixel_scale_arcsec : float
    mask, weight : ndarray, optional
        Same shape as ``image``.

    Returns
    -------
    stamps : ndarray, float32, shape (n, size, size)
    index : pandas.DataFrame
        Columns :data:`INDEX_COLUMNS` + samples, one row per stamp.
    n_outside : int
        Selected objects skipped because their centre is off the tile.
    """
    band = BandImage(DEFAULT_BAND, image, wcs, psf_fwhm_arcsec, zeropoint_mag, pixel_scale_arcsec,
                     mask=mask, weight=weight)
    return extract_band_stamps([band], selection, samples, tile, size, fill_value=fill_value)


def extract_band_stamps(images, selection: pd.DataFrame, samples, tile: str, size: int,
                        detection_band: str = DEFAULT_BAND, fill_value: float = 0.0):
    """Stamps in every band and the index of the selected objects of one tile.

    Parameters
    ----------
    images : sequence of BandImage
        The tile's bands, in the cube's band order.
    selection : pandas.DataFrame
        ``ID``, ``RAJ2000``, ``DECJ2000`` and the sample flags (:func:`select_objects`).
    samples : sequence of str
    tile : str
    size : int
    detection_band : str
        The band the stamps are centred on (the first band when ``images`` lacks it).
    fill_value : float
        Pixels beyond the tile.

    Returns
    -------
    stamps : ndarray, float32, shape (n, size, size) for one band, (n, n_bands, size, size) for several
    index : pandas.DataFrame
        :data:`INDEX_COLUMNS` (``psf_fwhm_arcsec``, ``zeropoint_mag`` and
        ``pixel_scale_arcsec`` of the reference band), :func:`band_columns`,
        then the samples; one row per stamp.
    n_outside : int
        Selected objects skipped because their centre is off the tile.
    """
    images = list(images)
    ref = images[reference_band(images, detection_band)]
    ny, nx = ref.data.shape
    ra = selection["RAJ2000"].to_numpy(dtype=float)
    dec = selection["DECJ2000"].to_numpy(dtype=float)
    if len(selection):
        x, y = ref.wcs.celestial.all_world2pix(ra, dec, 0)
    else:
        x = y = np.zeros(0)
    xi, yi = np.rint(x), np.rint(y)
    on_tile = np.isfinite(x) & np.isfinite(y) & (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    n_outside = int((~on_tile).sum())
    sel = selection.loc[on_tile].reset_index(drop=True)
    x, y = x[on_tile], y[on_tile]
    positions = band_positions(images, images.index(ref), x, y)
    stamps = np.empty((len(sel), len(images), size, size), dtype=np.float32)
    edge = np.zeros(len(sel), dtype=bool)
    for k, (im, (bx, by)) in enumerate(zip(images, positions)):
        edge |= cut_stamps(im.data, bx, by, size, fill_value=fill_value, out=stamps[:, k])[1]
    masked_fraction, nan_fraction = band_fractions(
        [(stamps[:, k], bx, by, im.data.shape, im.mask, im.weight)
         for k, (im, (bx, by)) in enumerate(zip(images, positions))], size)
    index = pd.DataFrame({
        "object_id": sel["ID"].astype(str).to_numpy(),
        "tile": tile,
        "ra": ra[on_tile], "dec": dec[on_tile],
        "x_pix": x, "y_pix": y, "edge": edge,
        "masked_fraction": masked_fraction, "nan_fraction": nan_fraction,
        "psf_fwhm_arcsec": ref.psf_fwhm_arcsec, "zeropoint_mag": ref.zeropoint_mag,
        "pixel_scale_arcsec": ref.pixel_scale_arcsec,
    })
    index = index.astype(INDEX_COLUMNS)
    if band_columns([im.band for im in images]):
        for im in images:
            index[f"psf_fwhm_arcsec_{im.band}"] = float(im.psf_fwhm_arcsec)
            index[f"zeropoint_mag_{im.band}"] = float(im.zeropoint_mag)
    for s in samples:
        index[s] = sel[s].to_numpy(dtype=bool)
    return (stamps[:, 0] if len(images) == 1 else stamps), index, n_outside


def moffat_columns(images, catalog: pd.DataFrame) -> dict:
    """The stamp index's columns of each band's PSF as a Moffat fitted to the tile's stars
    (:func:`lensfinder.simulation.tile_moffat.tile_moffat`): ``psf_moffat_fwhm_arcsec_{band}``, ``psf_moffat_beta_{band}``
    and ``psf_moffat_n_stars_{band}``; NaN FWHM and beta (and no stars) where the catalogue has no star flag
    or magnitude, or no star could be fitted. The colour residual's PSF match uses them (docs/learning.md)."""
    from lensfinder.simulation.tile_moffat import tile_moffat  # here: astropy.modeling only for a tile's stamps

    columns = {}
    for im in images:
        try:
            fit = tile_moffat(im.data, im.wcs.celestial, im.pixel_scale_arcsec, catalog, source=im.source)
            fwhm, beta, n_stars = fit.fwhm_arcsec, fit.beta, fit.n_stars
        except InputError as exc:  # a catalogue without the columns PSF stars are chosen by
            log.info("%s: no Moffat PSF fit (%s)", im.source, exc)
            fwhm, beta, n_stars = np.nan, np.nan, 0
        columns.update({f"psf_moffat_fwhm_arcsec_{im.band}": float(fwhm), f"psf_moffat_beta_{im.band}": float(beta),
                        f"psf_moffat_n_stars_{im.band}": int(n_stars)})
    return columns


def write_tile_stamps(image, catalog, flags, tile: str, samples, size: int, out_cube, out_index, *,
                      bands=(DEFAULT_BAND,), detection_band: str = DEFAULT_BAND, mask=None, weight=None,
                      psf_fwhm_arcsec=None, zeropoint_mag=None) -> pd.DataFrame:
    """Cut one tile's stamps in every band from its files and write the cube and its index.

    Parameters
    ----------
    image : path or sequence of path
        Tile coadd FITS, one per band in ``bands`` order.
    catalog : path
        Catalogue Parquet (``ID``, ``KIDS_TILE``, ``RAJ2000``, ``DECJ2000``).
    flags : path
        Preselection flags Parquet (``ID`` + sample columns).
    tile : str
        Tile name (catalogue ``KIDS_TILE``).
    samples : sequence of str
        Sample flag columns; an object is cut when any is true.
    size : int
        Stamp side, pixels.
    out_cube, out_index : path
        Output FITS cube (:func:`lensfinder.io.write_cube`, ``BANDS`` in the
        header) and Parquet index.
    bands : sequence of str
        Band names, one per image.
    detection_band : str
        The band of the catalogue positions: the stamps are centred on its pixels.
    mask, weight : path or sequence of path, optional
        Mask FITS (> 0 masked) and inverse-variance weight FITS (<= 0 masked), one per band.
    psf_fwhm_arcsec, zeropoint_mag : float or sequence of float, optional
        Override the headers' PSF FWHM (arcsec) and zero point (mag), one per band.

    Returns
    -------
    pandas.DataFrame
        The index written.
    """
    samples, bands = list(samples), tuple(bands)
    catalog_table = read_table(catalog, required=["ID", "KIDS_TILE", "RAJ2000", "DECJ2000"])
    flags_table = read_table(flags, required=["ID", *samples])
    selection = select_objects(catalog_table, flags_table, tile, samples,
                               catalog_source=str(catalog), flags_source=str(flags))
    with open_band_images(image, bands, masks=mask, weights=weight, psf_fwhm_arcsec=psf_fwhm_arcsec,
                          zeropoint_mag=zeropoint_mag) as images:
        ref = images[reference_band(images, detection_band)]
        try:
            stamps, index, n_outside = extract_band_stamps(images, selection, samples, tile, size, detection_band)
        except InputError as exc:
            raise InputError(f"{ref.source}: {exc}") from exc
        fits = moffat_columns(images, catalog_table[catalog_table["KIDS_TILE"] == tile])
        index = pd.concat([index.drop(columns=samples), pd.DataFrame(fits, index=index.index), index[samples]], axis=1)
    if n_outside and n_outside == len(selection):
        raise InputError(f"{ref.source}: none of the {n_outside} selected objects of tile {tile} in {catalog} falls on "
                         "this image (WCS); expected the coadd of the same tile")
    if n_outside:
        log.warning("%s: %d selected objects lie outside the tile and were skipped", tile, n_outside)
    blank = index["nan_fraction"].to_numpy() >= 1.0
    if len(index) and blank.all():
        raise InputError(f"{ref.source}: all {len(index)} stamps are entirely NaN/inf: the coadd has no data where "
                         f"the catalogue's objects of tile {tile} are (a blank or wrong image?)")
    if blank.any():
        log.warning("%s: %d of %d stamps are entirely NaN/inf (they will get p_cnn = NaN)",
                    tile, int(blank.sum()), len(index))
    log.info("%s: %d stamps of %dx%d in %s (%d selected, %d padded at the edge)", tile, len(stamps),
             size, size, ",".join(bands), len(selection), int(index["edge"].sum()))
    cards = {"TILE": (tile, "tile name")}
    if np.isfinite(ref.psf_fwhm_arcsec):
        cards["PSF_FWHM"] = (ref.psf_fwhm_arcsec, "PSF FWHM of the tile, arcsec")  # the reference band's
    write_cube(stamps, out_cube, ref.pixel_scale_arcsec, ref.zeropoint_mag, header_cards=cards, bands=bands)
    write_table(index, out_index)
    return index
