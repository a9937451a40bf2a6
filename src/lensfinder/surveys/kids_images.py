"""KiDS tile images from the ESO archive: the release's coadd in ObsCore, its products in Datalink, SODA cutouts.

The ``KIDS`` ObsCore collection holds every release's coadds (DR1 to DR5)
over the same tiles, so a product is chosen by release, read from its
original file name (``obs_creator_did``, Datalink ``eso_origfile``) or the
row's ``release_description``, and the downloaded header is checked to name
the tile and release asked for. Conventions and assumptions:
``docs/surveys.md``.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timezone

import numpy as np

from lensfinder.io import InputError
from lensfinder.surveys.base import (DEFAULT_TIMEOUT_S, DownloadError, cache_folder, download_file, own_session,
                                     with_retries)
from lensfinder.surveys.eso import (ESO_DATAPORTAL_URL, ESO_MAX_ROWS, ESO_TAP_OBS_URL, RELEASE_DESCRIPTIONS,
                                    image_releases, origfile_of, parse_kids_file, same_tile, tile_centre)
from lensfinder.surveys.kids_tile_files import verify_fits, write_tile_files
from lensfinder.surveys.tap import as_text, column_of, query_with_retries

__all__ = [
    "PRODUCT_CATEGORIES",
    "TILE_MATCH_RADIUS_DEG",
    "obscore_query",
    "choose_coadd",
    "find_tile_products",
    "check_product_header",
    "download_tile",
]

log = logging.getLogger(__name__)

#: Datalink eso_category of the three products of a coadd.
PRODUCT_CATEGORIES = {"image": "SCIENCE.IMAGE", "weight": "ANCILLARY.WEIGHTMAP", "mask": "ANCILLARY.MASK"}
#: file-name product type (``..._r_sci.fits``) of each kind
_PRODUCT_TYPES = {"image": "sci", "weight": "wei", "mask": "msk"}
#: KiDS tiles are 1 x 1 deg; a coadd's ObsCore centre must be this close to the tile's.
TILE_MATCH_RADIUS_DEG = 0.25
_OBSCORE_COLUMNS = ("dp_id", "access_url", "s_ra", "s_dec", "filter", "obs_release_date", "obs_creator_did",
                    "release_description", "target_name")


def obscore_query(ra_deg: float, dec_deg: float, band: str) -> str:
    """ADQL for the KIDS images in ``band`` whose footprint holds ``(ra_deg, dec_deg)``, every release."""
    return (f"SELECT {', '.join(_OBSCORE_COLUMNS)} FROM ivoa.ObsCore "
            "WHERE obs_collection = 'KIDS' AND dataproduct_type = 'image' "
            f"AND filter LIKE '{band}%' AND CONTAINS(POINT('ICRS', {ra_deg!r}, {dec_deg!r}), s_region) = 1")


def _release_time(text: str) -> float:
    """Seconds since 1970 of an ISO timestamp (``2019-02-26T10:58:33.123Z``); 0 if unreadable."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def choose_coadd(rows: list[dict], tile: str, band: str, releases: tuple[str, ...]) -> dict:
    """The ObsCore row of ``tile``'s ``band`` coadd in the first of ``releases`` that has one.

    Parameters
    ----------
    rows : list of dict
        ObsCore rows (:func:`obscore_query` columns, values as text).
    releases : tuple of str
        Acceptable image releases, preferred first (``("DR4.0",)``).

    Returns
    -------
    dict
        The row, with ``release`` and ``origfile`` added. Within a release:
        the row whose centre is nearest the tile's, then the newest
        ``obs_release_date``.

    Raises
    ------
    DownloadError
        No coadd of those releases; the message lists what ObsCore has.
    """
    from astropy.coordinates import angular_separation  # great circle: a coadd at RA 359.99 is beside tile RA 0.0

    ra, dec = tile_centre(tile)
    found, candidates = [], []
    for row in rows:
        origfile = origfile_of(row.get("obs_creator_did", ""))
        named = parse_kids_file(origfile)
        release = named.release if named else RELEASE_DESCRIPTIONS.get(row.get("release_description", ""), "")
        found.append(f"{release or '?'} {origfile or row.get('dp_id', '')}".strip())
        if named and (named.band != band or named.product != "sci" or not same_tile(named.tile, tile)):
            continue  # another band (i2), a detection image, a neighbouring tile
        try:
            sep = math.degrees(angular_separation(*map(math.radians, (float(row["s_ra"]), float(row["s_dec"]), ra, dec))))
        except (TypeError, ValueError, KeyError):
            sep = math.inf
        if release in releases and (named or sep <= TILE_MATCH_RADIUS_DEG):
            candidates.append((releases.index(release), round(sep, 3),
                               -_release_time(row.get("obs_release_date", "")), row, release, origfile))
    if not candidates:
        raise DownloadError(
            f"tile {tile}: no {band}-band KiDS {'/'.join(releases)} coadd in ObsCore "
            f"(found: {'; '.join(sorted(found)) or 'nothing'}); the image release follows the catalogue "
            "release, or set it with kids.image_release / download-tile --image-release")
    *_, row, release, origfile = min(candidates, key=lambda c: c[:3])
    return {**row, "release": release, "origfile": origfile}


def _dp_id_from(row_id: str, access_url: str) -> str:
    for text in (row_id, access_url):
        m = re.search(r"(ADP\.[0-9T:.\-]+)", text or "")
        if m:
            return m.group(1)
    return ""


def find_tile_products(tile: str, band: str = "r", *, release: str = "dr4", image_release: str | None = None,
                       obscore_url: str = ESO_TAP_OBS_URL, dataportal_url: str = ESO_DATAPORTAL_URL, session=None,
                       retries: int = 4, backoff_s: float = 2.0) -> dict:
    """Locate a tile's coadd, weight and mask of one release in the ESO archive.

    Parameters
    ----------
    release : str
        Catalogue release (``dr4``, ``dr4.0``, ``dr3``): its image releases
        are accepted (:data:`lensfinder.surveys.eso.IMAGE_RELEASES`).
    image_release : str, optional
        One image release instead (``"DR4.0"``); ``None``/``"auto"``: from ``release``.

    Returns
    -------
    dict
        ``{"image"|"weight"|"mask": {"dp_id", "url", "size", "id", "origfile"}, "soda_url": str or None,
        "release": "DR4.0", "obs": {...the ObsCore row...}}``.
    """
    releases = image_releases(release, image_release)
    ra, dec = tile_centre(tile)
    if not re.fullmatch(r"[ugriz]", band):
        raise InputError(f"band: {band!r}; expected one of u, g, r, i")
    what = f"KiDS tile {tile} ({band}-band) ObsCore"
    with own_session(session) as session:
        table = query_with_retries(obscore_query(ra, dec, band), obscore_url, maxrec=ESO_MAX_ROWS, mode="auto",
                                   session=session, what=what, retries=retries, backoff_s=backoff_s)
        names = {c: column_of(table, c) for c in _OBSCORE_COLUMNS}
        rows = [{c: as_text(table[n][k]) for c, n in names.items() if n} for k in range(len(table))]
        obs = choose_coadd(rows, tile, band, releases)
        products = _datalink_products(obs, tile, band, dataportal_url, session, retries, backoff_s)
    products.update(obs=obs, release=obs["release"])
    log.info("tile %s: %s-band %s coadd %s (%s)", tile, band, obs["release"], obs["dp_id"], obs["origfile"] or "?")
    return products


def _datalink_products(obs, tile, band, dataportal_url, session, retries, backoff_s) -> dict:
    """Image, weight, mask and SODA service of one coadd's Datalink document (previews and other files skipped)."""
    from pyvo.dal.adhoc import DatalinkResults

    links = with_retries(lambda k: DatalinkResults.from_result_url(obs["access_url"], session=session),
                         f"KiDS tile {tile} Datalink", retries=retries, backoff_s=backoff_s)
    names = links.fieldnames
    kinds = {v: k for k, v in PRODUCT_CATEGORIES.items()}
    products: dict = {"soda_url": None}
    for row in links:
        text = {n: as_text(row[n]) for n in ("eso_category", "eso_origfile", "semantics", "service_def",
                                             "content_type", "ID", "access_url") if n in names}
        if text.get("service_def"):
            if products["soda_url"] is None:
                resource = links.get_adhocservice_by_id(text["service_def"])
                products["soda_url"] = next((as_text(p.value) for p in resource.params if p.name == "accessURL"), None)
            continue
        origfile = text.get("eso_origfile", "")
        named = parse_kids_file(origfile)
        kind = kinds.get(text.get("eso_category", ""))
        if kind is None and not text.get("eso_category"):
            kind = "image" if text.get("semantics") == "#this" else next(
                (k for k, t in _PRODUCT_TYPES.items() if named and named.product == t), None)
        if kind is None or kind in products or "fits" not in text.get("content_type", "application/fits"):
            continue  # previews (#preview, image/jpeg), source lists, ancillary files of other kinds
        if named and (named.release != obs["release"] or named.band != band or not same_tile(named.tile, tile)
                      or named.product != _PRODUCT_TYPES[kind]):
            continue  # a product of another release, band or tile linked from this one
        access = text.get("access_url", "")
        dp_id = (_dp_id_from(text.get("ID", "") if kind == "image" else "", access)
                 or (obs["dp_id"] if kind == "image" else ""))
        if not dp_id:
            continue
        size = row["content_length"] if "content_length" in names else None
        size = int(size) if size is not None and size is not np.ma.masked and int(size) > 0 else None
        products[kind] = {"dp_id": dp_id, "url": f"{dataportal_url.rstrip('/')}/{dp_id}", "size": size,
                          "id": f"ivo://eso.org/ID?{dp_id}", "origfile": origfile}
    lacking = [k for k in PRODUCT_CATEGORIES if k not in products]
    if lacking:
        raise DownloadError(f"tile {tile}: Datalink {obs['access_url']} lists no {obs['release']} "
                            f"{', '.join(lacking)} product")
    return products


def check_product_header(header, path, tile: str, band: str, releases: tuple[str, ...], kind: str = "image") -> str:
    """Check that a downloaded product's header names ``tile``, ``band`` and one of ``releases``.

    ``ORIGFILE`` (the ESO Phase 3 original file name) must parse as a KiDS
    file of that release, tile, band and kind; without it, ``OBJECT`` must
    name the tile (the release then rests on the archive metadata, and a
    warning says so). Returns the release the header names (``""`` if none).

    Raises
    ------
    DownloadError
        Naming the file, the card, what it says and what was asked for.
    """
    origfile = str(header.get("ORIGFILE", "") or "")
    named = parse_kids_file(origfile)
    asked = f"{tile} {band}-band {'/'.join(releases)} {_PRODUCT_TYPES[kind]}"
    if named is not None:
        if (named.release not in releases or not same_tile(named.tile, tile) or named.band != band
                or named.product != _PRODUCT_TYPES[kind]):
            raise DownloadError(f"{path}: ORIGFILE = {origfile!r} is {named.tile} {named.band}-band "
                                f"{named.release} {named.product}; asked for {asked}")
        return named.release
    obj = str(header.get("OBJECT", "") or "").strip()
    if obj:
        if not same_tile(obj, tile):
            raise DownloadError(f"{path}: OBJECT = {obj!r}; asked for tile {tile}")
        log.warning("%s: no KiDS ORIGFILE card; tile %s checked from OBJECT, release taken from the archive "
                    "metadata", path, tile)
        return ""
    raise DownloadError(f"{path}: the header names no tile (neither ORIGFILE nor OBJECT); asked for {asked}")


def download_tile(tile: str, band: str, out_image, out_weight, out_mask, *, release: str = "dr4",
                  image_release: str | None = None, cache_dir=None, obscore_url: str = ESO_TAP_OBS_URL,
                  dataportal_url: str = ESO_DATAPORTAL_URL, soda_url: str | None = None, cutout=None,
                  retries: int = 4, backoff_s: float = 2.0, timeout_s: float = DEFAULT_TIMEOUT_S,
                  session=None) -> None:
    """Fetch one tile's coadd, weight and mask of one release (whole files, or SODA cutouts).

    Parameters
    ----------
    tile, band : str
        KiDS tile name (``KIDS_<ra>_<dec>``) and band (u, g, r, i).
    out_image, out_weight, out_mask : path
        The tile files (:func:`write_tile_files`).
    release, image_release : str
        Catalogue release whose images to take, or one image release
        (:func:`find_tile_products`). Each downloaded header must name the
        tile, band and release (:func:`check_product_header`).
    cache_dir : path, optional
        Raw downloads, named by ``dp_id``; kept, so a rerun fetches nothing.
        Default: :func:`lensfinder.surveys.base.cache_folder` beside ``out_image``.
    cutout : (ra_deg, dec_deg, size_arcsec), optional
        Ask SODA for a square cutout of ``size_arcsec`` (a circle of radius
        ``size_arcsec / 2``) of each product instead of whole files.
    soda_url : str, optional
        SODA endpoint; default: the one the tile's Datalink document names.
    retries, backoff_s, timeout_s
        See :func:`lensfinder.surveys.base.with_retries` and :func:`~lensfinder.surveys.base.make_session`.
    """
    from pyvo.dal.adhoc import SodaQuery

    cache = cache_folder(cache_dir, out_image)
    with own_session(session, timeout_s) as session:
        products = find_tile_products(tile, band, release=release, image_release=image_release,
                                      obscore_url=obscore_url, dataportal_url=dataportal_url, session=session,
                                      retries=retries, backoff_s=backoff_s)
        files = {}
        for kind in ("image", "weight", "mask"):
            product = products[kind]
            what = f"KiDS tile {tile} {products['release']} {kind} {product['dp_id']}"
            if cutout is None:
                files[kind] = download_file(product["url"], cache / f"{product['dp_id']}.fits", session=session,
                                            expected_size=product["size"], retries=retries, backoff_s=backoff_s,
                                            what=what, verify=verify_fits)
            else:
                ra, dec, size_arcsec = (float(v) for v in cutout)
                url = soda_url or products["soda_url"]
                if not url:
                    raise DownloadError(f"tile {tile}: no SODA service in Datalink and none configured")
                soda = SodaQuery(url, id=product["id"], circle=(ra, dec, size_arcsec / 2 / 3600.0), session=session)
                name = f"{product['dp_id']}_cutout_{ra:.6f}_{dec:+.6f}_{size_arcsec:g}.fits"
                files[kind] = download_file(soda.queryurl, cache / name, session=session, params=dict(soda),
                                            retries=retries, backoff_s=backoff_s, what=what + " cutout",
                                            verify=verify_fits)
    _check_downloads(files, tile, band, (products["release"],))
    write_tile_files(files["image"], files["weight"], files["mask"], out_image, out_weight, out_mask,
                     release=products["release"])
    log.info("tile %s: wrote %s, %s, %s", tile, out_image, out_weight, out_mask)


def _check_downloads(files: dict, tile: str, band: str, releases: tuple[str, ...]) -> None:
    """:func:`check_product_header` on the image (ORIGFILE or OBJECT) and on weight and mask where they carry ORIGFILE."""
    from astropy.io import fits

    for kind, path in files.items():
        header = fits.getheader(path, 0)
        if kind == "image" or parse_kids_file(str(header.get("ORIGFILE", "") or "")):
            check_product_header(header, path, tile, band, releases, kind)
