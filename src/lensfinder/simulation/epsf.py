"""Effective PSFs (ePSF) of survey tiles, for arcs injected into real stamps (He et al. 2020, section 4.2).

:func:`build_tile_psf` stacks the tile's stars with photutils (the tile's
seeing when it has too few); :func:`tile_psf_kernel` caches the kernel per
tile, catalogue and settings. Star selection: ``docs/simulation.md`` (tile ePSF).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np

from lensfinder.io import InputError, nearest_hint

__all__ = ["EPSF_DEFAULTS", "TilePSF", "settings_with_defaults", "select_psf_stars", "build_epsf_kernel", "build_tile_psf",
           "find_tile_files", "band_tile_file", "band_epsf_columns", "tile_psf_kernel", "kernel_hash",
           "kernel_fwhm_arcsec", "epsf_columns"]

log = logging.getLogger(__name__)

#: Settings of the ePSF (keys of ``epsf_settings`` in simulation metadata).
EPSF_DEFAULTS = {
    "size_pix": 25,  # cutout and kernel size (5" at 0.2"/px)
    "oversampling": 4,
    "maxiters": 10,
    "min_stars": 5,
    "max_stars": 50,
    "mag_range": [17.0, 22.0],
    "class_star_min": 0.9,
    "isolation_arcsec": 3.0,
}


class TilePSF:
    """A tile's PSF kernel and how it was made.

    Attributes
    ----------
    kernel : ndarray, float64, (size_pix, size_pix), unit sum
    n_stars : int
        Stars stacked (0 when the seeing fallback was used).
    method : str
        ``epsf`` or ``fallback_moffat`` / ``fallback_gaussian``.
    fwhm_header_arcsec : float
        The tile's ``PSF_FWHM``.
    """

    def __init__(self, kernel, n_stars, method, fwhm_header_arcsec):
        self.kernel = kernel
        self.n_stars = int(n_stars)
        self.method = method
        self.fwhm_header_arcsec = float(fwhm_header_arcsec)

    @property
    def hash(self) -> str:
        """:func:`kernel_hash` of :attr:`kernel`."""
        return kernel_hash(self.kernel)


def settings_with_defaults(settings: dict | None = None, source: str = "epsf_settings") -> dict:
    """:data:`EPSF_DEFAULTS` updated with ``settings``, checked."""
    out = {**EPSF_DEFAULTS, **(settings or {})}
    unknown = set(out) - set(EPSF_DEFAULTS)
    if unknown:
        raise InputError(f"{source}: unknown key(s) {sorted(unknown)}{nearest_hint(min(unknown), EPSF_DEFAULTS)}; "
                         f"known: {', '.join(EPSF_DEFAULTS)}")
    for key in ("size_pix", "oversampling", "maxiters", "min_stars", "max_stars"):
        v = out[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(f"{source}: {key}: expected a positive integer, got {v!r}")
    if out["size_pix"] % 2 == 0 or out["size_pix"] < 5:
        raise InputError(f"{source}: size_pix: expected an odd number >= 5, got {out['size_pix']!r}")
    lo_hi = out["mag_range"]
    if not isinstance(lo_hi, (list, tuple)) or len(lo_hi) != 2 or float(lo_hi[0]) > float(lo_hi[1]):
        raise InputError(f"{source}: mag_range: expected [bright, faint] magnitudes, got {lo_hi!r}")
    out["mag_range"] = [float(lo_hi[0]), float(lo_hi[1])]
    out["class_star_min"] = float(out["class_star_min"])
    out["isolation_arcsec"] = float(out["isolation_arcsec"])
    return out


def kernel_hash(kernel) -> str:
    """First 16 hex digits of the SHA-1 of a kernel's float64 bytes."""
    return hashlib.sha1(np.ascontiguousarray(kernel, dtype=np.float64).tobytes()).hexdigest()[:16]


def select_psf_stars(catalog, image, wcs, settings: dict, pixel_scale_arcsec: float, source: str = "catalogue"):
    """Pixel positions (x, y; 0-based) of the stars used for the ePSF.

    The criteria: ``docs/simulation.md`` (tile ePSF).
    """
    s = settings
    for col in ("RAJ2000", "DECJ2000", "MAG_AUTO"):
        if col not in catalog.columns:
            raise InputError(f"{source}: {col}: column needed to select PSF stars is missing")
    if len(catalog) == 0:
        return np.zeros(0), np.zeros(0)
    x_all, y_all = wcs.world_to_pixel_values(catalog["RAJ2000"].to_numpy(float), catalog["DECJ2000"].to_numpy(float))
    x_all, y_all = np.asarray(x_all, float), np.asarray(y_all, float)
    if "SG2DPHOT" in catalog.columns:
        # a bitmap (de Jong et al. 2017, KiDS DR3): 1 high-confidence star candidate (2DPHOT's PSF stars), 2 an
        # unreliable source, 4 a star by the star/galaxy separation; flags add up (5 = 1 + 4)
        flags = catalog["SG2DPHOT"].fillna(0).to_numpy().astype(np.int64)
        ok = ((flags & 1) != 0) & ((flags & 2) == 0)
    elif "CLASS_STAR" in catalog.columns:
        ok = catalog["CLASS_STAR"].fillna(0).to_numpy(float) >= s["class_star_min"]
    else:
        raise InputError(f"{source}: SG2DPHOT/CLASS_STAR: a star flag is needed to select PSF stars")
    mag = catalog["MAG_AUTO"].to_numpy(float)
    ok &= np.isfinite(mag) & (mag >= s["mag_range"][0]) & (mag <= s["mag_range"][1])
    for col in ("Flag", "IMAFLAGS_ISO"):
        if col in catalog.columns:
            ok &= catalog[col].fillna(1).to_numpy() == 0
    half = s["size_pix"] // 2
    ny, nx = image.shape
    ok &= (x_all >= half) & (x_all <= nx - 1 - half) & (y_all >= half) & (y_all <= ny - 1 - half)
    from scipy.spatial import cKDTree

    iso_pix = s["isolation_arcsec"] / pixel_scale_arcsec
    idx = np.flatnonzero(ok)
    finite = np.isfinite(x_all) & np.isfinite(y_all)
    tree = cKDTree(np.column_stack([x_all[finite], y_all[finite]]))
    keep = []
    for i in idx:
        if len(tree.query_ball_point([x_all[i], y_all[i]], iso_pix)) > 1:  # itself and a neighbour
            continue
        xi, yi = int(round(x_all[i])), int(round(y_all[i]))
        if not np.all(np.isfinite(image[yi - half:yi + half + 1, xi - half:xi + half + 1])):
            continue
        keep.append(i)
    keep = np.array(keep, dtype=int)
    keep = keep[np.argsort(mag[keep], kind="stable")][: s["max_stars"]]
    return x_all[keep], y_all[keep]


def build_epsf_kernel(image, x_pix, y_pix, settings: dict):
    """Stack stars into an ePSF and evaluate it at pixel centres (unit-sum kernel)."""
    from astropy.nddata import NDData
    from astropy.table import Table
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.psf import EPSFBuilder, extract_stars

    s = settings
    size = s["size_pix"]
    # small float64 cutouts, so that a memory-mapped 20k x 20k KiDS coadd is never read whole
    half = size // 2 + 2
    cutouts, tables = [], []
    for x, y in zip(np.asarray(x_pix, float), np.asarray(y_pix, float)):
        x0, y0 = max(int(round(x)) - half, 0), max(int(round(y)) - half, 0)
        cut = np.asarray(image[y0:int(round(y)) + half + 1, x0:int(round(x)) + half + 1], dtype=float)
        cutouts.append(NDData(data=cut))
        tables.append(Table({"x": [x - x0], "y": [y - y0]}))
    with warnings.catch_warnings():
        # photutils warns about stars it drops (edges, NaN) and about the fit iterations
        warnings.simplefilter("ignore", AstropyUserWarning)
        stars = extract_stars(cutouts, tables, size=(size, size))
        builder = EPSFBuilder(oversampling=s["oversampling"], maxiters=s["maxiters"], progress_bar=False)
        built = builder(stars)
    epsf = built[0] if isinstance(built, tuple) else getattr(built, "epsf", built)
    half = size // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)  # pixel centres about the star centre
    kernel = np.asarray(epsf.evaluate(xx, yy, 1.0, 0.0, 0.0), dtype=float)
    kernel = np.clip(kernel, 0.0, None)  # the stacked wings are noisy around zero
    total = kernel.sum()
    if not total > 0:
        raise InputError("ePSF: stacked stars give an empty PSF")
    return kernel / total


def _fallback_kernel(header, pixel_scale_arcsec, size_pix, source):
    from lensfinder.simulation.optics import gaussian_kernel_1d, moffat_psf_kernel

    if "PSF_FWHM" not in header:
        raise InputError(f"{source}: PSF_FWHM: header keyword needed for the seeing fallback is missing")
    fwhm = float(header["PSF_FWHM"])
    if "MOFFBETA" in header:
        return moffat_psf_kernel(fwhm, pixel_scale_arcsec, beta=float(header["MOFFBETA"]), size_pix=size_pix), \
            "fallback_moffat", fwhm
    k = gaussian_kernel_1d(fwhm, pixel_scale_arcsec, radius_pix=size_pix // 2)
    return np.outer(k, k), "fallback_gaussian", fwhm


def build_tile_psf(image, header, catalog, settings: dict | None = None, source: str = "tile") -> TilePSF:
    """The PSF kernel of one tile from its image, header and catalogue (arrays and tables in, no files).

    Parameters
    ----------
    image : ndarray (ny, nx)
        Coadd in counts.
    header : astropy.io.fits.Header or mapping
        With a celestial WCS, ``PSF_FWHM`` (arcsec) and ``PIXSCALE`` (arcsec/px; else from the WCS).
    catalog : pandas.DataFrame
        KiDS-named columns (``RAJ2000``, ``DECJ2000``, ``MAG_AUTO``, ``SG2DPHOT`` or ``CLASS_STAR``, ...).
    settings : dict, optional
        Overrides of :data:`EPSF_DEFAULTS`.

    Returns
    -------
    TilePSF
    """
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    s = settings_with_defaults(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FITS WCS keyword fix-ups
        wcs = WCS(header).celestial
    scale = float(header["PIXSCALE"]) if "PIXSCALE" in header else float(proj_plane_pixel_scales(wcs)[0] * 3600)
    x, y = select_psf_stars(catalog, image, wcs, s, scale, source)
    if len(x) >= s["min_stars"]:
        kernel = build_epsf_kernel(image, x, y, s)
        fwhm = float(header.get("PSF_FWHM", np.nan))
        result = TilePSF(kernel, len(x), "epsf", fwhm)
    else:
        kernel, method, fwhm = _fallback_kernel(header, scale, s["size_pix"], source)
        log.info("%s: %d PSF stars (< %d): %s of the header seeing", source, len(x), s["min_stars"], method)
        result = TilePSF(kernel / kernel.sum(), 0, method, fwhm)
    log.info("%s: PSF kernel %s from %d stars, FWHM %.3f\" (header %.3f\")", source, result.method, result.n_stars,
             kernel_fwhm_arcsec(result.kernel, scale), result.fwhm_header_arcsec)
    return result


def _find(names, suffix: str, paths, key: str) -> str:
    """The path of the first of ``names`` among ``paths`` (files, or directories: paths not ending in ``suffix``)."""
    files = [str(Path(f)) for f in paths if f.endswith(suffix)]
    dirs = [Path(d) for d in paths if not d.endswith(suffix)]
    for name in names:
        found = [f for f in files if Path(f).name == name] + [str(d / name) for d in dirs if (d / name).exists()]
        if found:
            return found[0]
    if dirs:  # tile_psf_kernel names the missing file
        return str(dirs[0] / names[0])
    raise InputError(f"{key}: no {' or '.join(names)} among the {len(files)} file(s) given")


def find_tile_files(tile: str, tiles, catalogs, band: str = "r", bands=()) -> tuple[str, str]:
    """The image and catalogue files of ``tile``: ``{tile}.fits`` or ``{tile}.{band}.fits`` (the detection
    band's image of a multi-band survey) among ``tiles``, ``{tile}.parquet`` among ``catalogs``; with
    other ``bands`` beside ``band``, ``{tile}.{band}.fits`` alone, and every band's ``{tile}.{b}.fits``
    must be there too (the one-band name ``{tile}.fits`` says nothing of its band).

    Parameters
    ----------
    tile : str
        Tile name (the stamp index's ``tile``).
    tiles, catalogs : sequence of str
        Files, or directories that hold them (recipe parameters ``psf_tiles``, ``psf_catalogs``).
    band : str
        The band the arcs are painted in.
    bands : sequence of str
        Every band rendered (the recipe's ``bands``; empty: ``band`` alone).

    Raises
    ------
    InputError
        Files given but none for this tile; with several bands, a tile named ``{tile}.fits`` or a
        band's tile missing.
    """
    others = [b for b in bands if b != band]
    if not others:
        image = _find([f"{tile}.fits", f"{tile}.{band}.fits"], ".fits", tiles, "psf_tiles")
    else:
        image = _find([f"{tile}.{band}.fits", f"{tile}.fits"], ".fits", tiles, "psf_tiles")
        expected = ", ".join(f"{tile}.{b}.fits" for b in bands)
        if not image.endswith(f".{band}.fits"):
            raise InputError(f"psf_tiles: {image}: a tile image of one band beside bands {list(bands)}: each band's "
                             f"ePSF needs its own tile, expected {expected} in {Path(image).parent}")
        for b in bands:
            path = band_tile_file(image, band, b)
            if not Path(path).exists():
                raise InputError(f"psf_tiles: {path}: band {b}'s tile image for the ePSF not found (bands "
                                 f"{list(bands)}: expected {expected} in {Path(image).parent})")
    return image, _find([f"{tile}.parquet"], ".parquet", catalogs, "psf_catalogs")


def band_tile_file(path: str, det: str, band: str) -> str:
    """``{tile}.{det}.fits`` -> ``{tile}.{band}.fits``, the tile image of ``band`` beside the detection band's;
    "" for "" (no tile ePSF).

    Raises
    ------
    InputError
        A one-band tile name (not ``{tile}.{det}.fits``).
    """
    suffix = f".{det}.fits"
    if not path or band == det:
        return path
    if not path.endswith(suffix):
        raise InputError(f"psf_tile_file: {path}: a tile image of one band, no {band} band beside it: expected "
                         f"the detection band's tile named {{tile}}{suffix} beside {{tile}}.{band}.fits")
    return path[:-len(suffix)] + f".{band}.fits"


def band_epsf_columns(df, det: str, band: str) -> tuple[list, list]:
    """``psf_tile_file_{band}`` and ``psf_kernel_hash_{band}`` of metadata rows ``df`` (detection band ``det``):
    the band's tile beside each row's detection-band tile and the hash of its ePSF (same catalogue and
    settings), checked on re-rendering as ``psf_kernel_hash`` is; "" where a row has no tile ePSF."""
    files, hashes = [], []
    for tile, catalog, settings in zip(df["psf_tile_file"], df["psf_catalog_file"], df["epsf_settings"]):
        path = band_tile_file(tile if isinstance(tile, str) else "", det, band)
        files.append(path)
        hashes.append(tile_psf_kernel(path, str(catalog), str(settings)).hash if path else "")
    return files, hashes


@functools.lru_cache(maxsize=4096)  # a kernel is 5 kB; a KiDS shard may draw hosts from ~1000 tiles
def tile_psf_kernel(tile_file: str, catalog_file: str, settings_json: str = "{}") -> TilePSF:
    """Cached :func:`build_tile_psf` of a tile FITS file and its catalogue table (one build per tile)."""
    from astropy.io import fits

    from lensfinder.io import read_table

    tile_path, cat_path = Path(tile_file), Path(catalog_file)
    if not tile_path.exists():
        raise InputError(f"{tile_path}: tile image for the ePSF not found")
    if not cat_path.exists():
        raise InputError(f"{cat_path}: tile catalogue for the ePSF not found")
    catalog = read_table(cat_path)
    with fits.open(tile_path, memmap=True) as hdul:  # only the star cutouts are read
        return build_tile_psf(hdul[0].data, hdul[0].header, catalog, json.loads(settings_json), source=str(tile_path))


def kernel_fwhm_arcsec(kernel, pixel_scale_arcsec: float, oversample: int = 8) -> float:
    """FWHM of a (near-circular) kernel: diameter where its azimuthal mean profile falls to half its peak.

    The kernel is interpolated (cubic spline) onto an ``oversample``-times finer grid first.
    """
    from scipy import ndimage

    k = np.asarray(kernel, dtype=float)
    n = k.shape[0]
    cy, cx = ndimage.center_of_mass(np.clip(k, 0, None))
    fine = (np.arange(n * oversample) + 0.5) / oversample - 0.5
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    vals = ndimage.map_coordinates(k, [yy.ravel(), xx.ravel()], order=3, mode="constant").reshape(yy.shape)
    r = np.hypot(xx - cx, yy - cy).ravel()
    edges = np.arange(0, n / 2, 1.0 / oversample)
    which = np.digitize(r, edges)
    prof = np.array([vals.ravel()[which == i].mean() if np.any(which == i) else np.nan
                     for i in range(1, len(edges))])
    radii = 0.5 * (edges[1:] + edges[:-1])
    peak = np.nanmax(prof[:3])
    below = np.flatnonzero(prof < 0.5 * peak)
    if not len(below):
        return float("nan")
    j = below[0]
    r_half = np.interp(0.5 * peak, [prof[j], prof[j - 1]], [radii[j], radii[j - 1]]) if j > 0 else radii[0]
    return float(2 * r_half * pixel_scale_arcsec)


def epsf_columns(recipe, tile: str) -> dict:
    """The PSF columns of a semi-real row with ``psf_model=epsf``: the tile's image and catalogue
    files, the settings (JSON), the stars used and the kernel's hash (built once per tile)."""
    if not tile:
        raise InputError("host_stamps: tile: psf_model=epsf needs the stamp index's tile column")
    from lensfinder.surveys.presets import get_preset

    settings = json.dumps(settings_with_defaults(dict(recipe.epsf_settings)), sort_keys=True)
    det = get_preset(recipe.preset).detection_band
    tile_file, cat_file = find_tile_files(tile, recipe.psf_tiles, recipe.psf_catalogs, det, recipe.bands)
    psf = tile_psf_kernel(tile_file, cat_file, settings)
    return {"psf_tile_file": tile_file, "psf_catalog_file": cat_file, "epsf_settings": settings,
            "epsf_n_stars": psf.n_stars, "psf_kernel_hash": psf.hash}

