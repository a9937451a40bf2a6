"""Pixels for the grading page: the set's stamp cubes, display limits, a wider field, FITS stamps, viewer links.

The page draws the stamps itself from float32 pixels, so the inspector can
change the stretch and the scale without new images. The limits of each scale
(min-max, percentiles, zscale) are computed here with
:mod:`astropy.visualization`, the stretches' parameters are astropy's
defaults, and the page applies astropy's stretch formulas (checked against
astropy in tests/inspection/test_server_browser.py).
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np

from lensfinder.io import InputError, read_cube

__all__ = ["SCALES", "stretch_parameters", "SURVEY_VIEWERS", "display_limits", "StampCubes", "TileFields", "stamp_fits",
           "viewer_links"]

log = logging.getLogger(__name__)

#: Scale name -> astropy interval factory (the limits the stretch maps to 0..1).
SCALES = {
    "minmax": lambda: _viz().MinMaxInterval(),
    "p99": lambda: _viz().PercentileInterval(99.0),
    "p99.5": lambda: _viz().PercentileInterval(99.5),
    "p99.9": lambda: _viz().PercentileInterval(99.9),
    "zscale": lambda: _viz().ZScaleInterval(),  # IRAF's zscale, as astropy implements it
}


def _viz():
    import astropy.visualization as viz

    return viz


def stretch_parameters() -> dict:
    """Stretch name -> parameters of astropy's stretch of that name (its defaults), for the page's formulas."""
    viz = _viz()
    return {"linear": {}, "sqrt": {}, "log": {"a": float(viz.LogStretch().a)},
            "asinh": {"a": float(viz.AsinhStretch().a)}}

#: Survey -> [(label, URL template with {ra} and {dec} in deg)] of the survey's own image viewers.
SURVEY_VIEWERS = {
    "mock": [],
    # The ESO Archive Science Portal, KiDS collection, 0.005 deg around the position.
    "kids_dr4": [("ESO archive (KiDS)", "https://archive.eso.org/scienceportal/home?pos={ra:.6f},{dec:.6f}"
                                        "&r=0.005&data_collection=KiDS"),
                 ("Legacy Surveys viewer", "https://www.legacysurvey.org/viewer?ra={ra:.6f}&dec={dec:.6f}"
                                           "&layer=ls-dr10&zoom=16")],
    "legacy_dr10": [("Legacy Surveys viewer", "https://www.legacysurvey.org/viewer?ra={ra:.6f}&dec={dec:.6f}"
                                              "&layer=ls-dr10&zoom=16")],
}
SURVEY_VIEWERS["kids_dr3"] = SURVEY_VIEWERS["kids_dr4"]


def viewer_links(survey: str | None, ra: float, dec: float) -> list[dict]:
    """``[{label, url}]`` of the survey's viewers at (ra, dec) in deg; none for the mock survey or no position."""
    if survey is None or not (np.isfinite(ra) and np.isfinite(dec)):
        return []
    return [{"label": label, "url": url.format(ra=ra, dec=dec)} for label, url in SURVEY_VIEWERS[survey]]


def display_limits(image) -> dict[str, list[float]]:
    """``{scale: [low, high]}`` for every scale in :data:`SCALES`, from the finite pixels of ``image``."""
    finite = np.asarray(image, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    limits = {}
    for name, interval in SCALES.items():
        low, high = interval().get_limits(finite) if finite.size else (0.0, 1.0)
        if not high > low:  # a flat image: any non-empty range draws it evenly
            high = low + 1.0
        limits[name] = [float(low), float(high)]
    return limits


class StampCubes:
    """The set's own stamp cubes, one per band (manifest columns ``stamps_<band>`` and ``stamps_row``).

    Parameters
    ----------
    set_dir : Path
        The inspection set directory; cube paths are relative to it.
    manifest : pandas.DataFrame
        The manifest, in grading order. A manifest without these columns
        (written before they existed) gives no bands: the page then shows the
        PNGs alone.
    source : str
        The manifest's path, for messages.
    """

    def __init__(self, set_dir: Path, manifest, source: str):
        self.bands: list[str] = []
        self._files: dict[str, Path] = {}
        self._cubes: dict[str, tuple] = {}  # band -> (images, header), read on first use
        self.rows = np.zeros(len(manifest), dtype=np.int64)
        columns = [c for c in manifest.columns if re.fullmatch(r"stamps_(?!row$)\w+", str(c))]
        if not columns:
            return
        if "stamps_row" not in manifest.columns:
            raise InputError(f"{source}: stamps_row: missing, but {', '.join(columns)} name stamp cubes")
        self.source = source
        raw = manifest["stamps_row"].to_numpy()
        try:
            rows = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            rows = np.full(len(raw), np.nan)
        bad = ~np.isfinite(rows) | (rows != np.round(rows)) | (rows < 0)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            value = raw[k].item() if hasattr(raw[k], "item") else raw[k]
            raise InputError(f"{source}: stamps_row: {value!r} on manifest row {k + 1}: expected a row of the "
                             f"stamp cube (an integer >= 0)")
        self.rows = rows.astype(np.int64)
        values, counts = np.unique(self.rows, return_counts=True)
        if (counts > 1).any():
            row = int(values[counts > 1][0])
            where = [int(k) + 1 for k in np.flatnonzero(self.rows == row)[:3]]
            raise InputError(f"{source}: stamps_row: row {row} is given to manifest rows {where}: expected each "
                             f"object its own row of the stamp cube")
        for column in columns:
            names = set(manifest[column].astype(str))
            if len(names) > 1:
                raise InputError(f"{source}: {column}: expected one cube for the whole set, found {sorted(names)[:3]}")
            if not names:
                continue
            path = (set_dir / names.pop()).resolve()
            if not path.is_relative_to(set_dir):
                raise InputError(f"{source}: {column}: {path} lies outside the set directory")
            self.bands.append(column[len("stamps_"):])
            self._files[self.bands[-1]] = path
        for band in self.bands:  # memory-mapped: checks every row is in the cube when the session starts
            self._cube(band)

    def pixels(self, index: int, band: str) -> np.ndarray:
        """The stamp of manifest row ``index`` in ``band``, float32, as stored (north up, row 0 at the bottom)."""
        return np.asarray(self._cube(band)[0][self.rows[index]], dtype=np.float32)

    def _cube(self, band: str) -> tuple:
        if band not in self._cubes:
            cube, header = read_cube(self._files[band])
            if len(cube) <= self.rows.max(initial=-1):
                raise InputError(f"{self.source}: stamps_row: row {int(self.rows.max())} is beyond the "
                                 f"{len(cube)} stamps of {self._files[band]}")
            self._cubes[band] = (cube, header)
        return self._cubes[band]

    def pixel_scale(self, band: str) -> float:
        """Arcsec per pixel of the band's cube (``PIXSCALE``), NaN if not recorded."""
        return float(self._cube(band)[1].get("PIXSCALE") or np.nan)


class TileFields:
    """Wider fields around objects, cut from their survey tiles (``DIR/{tile}.{band}.fits``, or
    ``DIR/{tile}.fits`` for tiles of one band, with a celestial WCS).

    Parameters
    ----------
    tile_dir : path-like
        Directory of the tile images (the workflow's ``results/survey/tiles``).
    size_arcsec : float
        Side of the square field, in arcsec.
    band : str
        The band shown (the detection band, r).
    """

    def __init__(self, tile_dir, size_arcsec: float = 60.0, band: str = "r"):
        self.tile_dir = Path(tile_dir)
        if not self.tile_dir.is_dir():
            raise InputError(f"--tile-dir: {self.tile_dir}: not a directory (expected the survey tiles, "
                             f"e.g. results/survey/tiles)")
        if not size_arcsec > 0:
            raise InputError(f"--field-arcsec: {size_arcsec}: expected a positive size in arcsec")
        self.size_arcsec = float(size_arcsec)
        self.band = band
        self._tiles: dict[str, tuple] = {}  # tile -> (HDUList, data, WCS), the last few opened

    def path(self, tile: str) -> Path:
        """The tile's image in ``band``: one file per band, else the tile's only image.

        ``tile`` must be a plain name (candidates.parquet's ``tile``): a path would be read outside ``tile_dir``.
        """
        if not tile or tile in (".", "..") or any(ch in tile for ch in "/\\\0"):
            raise InputError(f"tile {tile[:60]!r}: expected a plain tile name (no path) in candidates.parquet")
        per_band = self.tile_dir / f"{tile}.{self.band}.fits"
        return per_band if per_band.exists() else self.tile_dir / f"{tile}.fits"

    def _open(self, tile: str):
        from astropy.io import fits
        from astropy.wcs import WCS

        if tile in self._tiles:
            return self._tiles[tile][1:]
        path = self.path(tile)
        if not path.exists():  # the page is told the tile's name, not where this machine keeps it
            log.warning("%s: tile image not found (--tile-dir)", path)
            raise InputError(f"tile {tile!r}: no image in --tile-dir")
        hdul = fits.open(path, memmap=True)  # KiDS coadds are ~1 GB: read only the cutout's pages
        hdu = next((h for h in hdul if h.data is not None and h.data.ndim == 2), None)
        if hdu is None:
            hdul.close()
            log.warning("%s: no 2-D image HDU", path)
            raise InputError(f"tile {tile!r}: its image in --tile-dir has no 2-D image HDU")
        if len(self._tiles) >= 4:
            self._tiles.pop(next(iter(self._tiles)))[0].close()
        self._tiles[tile] = (hdul, hdu.data, WCS(hdu.header).celestial)
        return self._tiles[tile][1:]

    def close(self) -> None:
        """Close the open tiles."""
        while self._tiles:
            self._tiles.popitem()[1][0].close()

    def cutout(self, tile: str, ra: float, dec: float) -> tuple[np.ndarray, float]:
        """The field around (ra, dec) in deg, float32 north up (NaN beyond the tile), and its arcsec per pixel."""
        from astropy.coordinates import SkyCoord
        from astropy.nddata import Cutout2D
        from astropy.wcs.utils import proj_plane_pixel_scales
        import astropy.units as u

        data, wcs = self._open(tile)
        scale = float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)
        size = int(round(self.size_arcsec / scale)) | 1  # odd: the object on the central pixel
        cut = Cutout2D(data, SkyCoord(ra * u.deg, dec * u.deg), (size, size), wcs=wcs, mode="partial",
                       fill_value=np.nan, copy=True)
        return np.asarray(cut.data, dtype=np.float32), scale


def stamp_fits(images: dict[str, np.ndarray], cards: dict) -> bytes:
    """A small FITS file of one object's stamp: the first band in the primary HDU, the others as extensions.

    ``cards`` (``{keyword: (value, comment)}``) go in every header; each HDU
    also gets ``BAND`` and ``EXTNAME``.
    """
    from astropy.io import fits

    hdus = []
    for k, (band, image) in enumerate(images.items()):
        hdu = (fits.PrimaryHDU if k == 0 else fits.ImageHDU)(np.asarray(image, dtype=np.float32))
        hdu.header["EXTNAME"] = band.upper()
        hdu.header["BAND"] = (band, "photometric band")
        for key, value in cards.items():
            hdu.header[key] = value
        hdus.append(hdu)
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()
