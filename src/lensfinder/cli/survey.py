"""The survey steps' command line: mock-survey, list-tiles, download-catalog, download-tile, download-legacy-field."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lensfinder.cli.options import add_retry_arguments, parse_key_values, positive_float

__all__ = [
    "add_mock_survey_arguments",
    "run_mock_survey",
    "add_list_tiles_arguments",
    "run_list_tiles",
    "add_download_catalog_arguments",
    "run_download_catalog",
    "add_download_tile_arguments",
    "run_download_tile",
    "add_download_legacy_field_arguments",
    "run_download_legacy_field",
]

log = logging.getLogger(__name__)

_CACHE_HELP = "(kept: a rerun fetches nothing; default: cache/ beside --out-image)"


# ---------------------------------------------------------------- mock-survey


def add_mock_survey_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder mock-survey``."""
    from lensfinder.surveys.mock.settings import CONFIG_KEYS

    parser.add_argument("--tile", required=True, help="tile name, e.g. MOCK_0 (the catalogue's KIDS_TILE)")
    parser.add_argument("--index", type=int, required=True, help="tile index: sky position and random stream")
    parser.add_argument("--seed", type=int, default=42, help="master seed (default 42)")
    parser.add_argument("--bands", nargs="+", metavar="BAND", default=None,
                        help="bands to write, one --out-image/--out-weight/--out-mask path each in this order "
                             "(default: the detection band alone); every band of the preset is rendered, and a "
                             "band asked for beyond them too (KiDS u). The catalogue's GAaP photometry is "
                             "matched to the worst PSF among the rendered bands, so adding a band of worse "
                             "seeing (u) changes the other bands' MAG_GAAP_* and colours: render the same "
                             "bands to compare catalogues")
    parser.add_argument("--out-image", nargs="+", required=True, help="image FITS, one per band of --bands")
    parser.add_argument("--out-weight", nargs="+", required=True, help="inverse-variance weight FITS, one per band")
    parser.add_argument("--out-mask", nargs="+", required=True, help="mask FITS (int16, > 0 masked), one per band")
    parser.add_argument("--out-catalog", required=True, help="catalogue Parquet (KiDS DR4 columns)")
    parser.add_argument("--out-truth", required=True, help="truth Parquet (evaluation only)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (value parsed as YAML), e.g. --set size_pix=1000 "
                             "--set 'psf_fwhm_arcsec=[0.6, 0.8]'; keys: " + ", ".join(CONFIG_KEYS))


def run_mock_survey(args: argparse.Namespace) -> int:
    """Generate one tile and write its files."""
    from lensfinder.io import InputError
    from lensfinder.surveys.mock.settings import CONFIG_KEYS, mock_survey_config
    from lensfinder.surveys.mock.tiles import make_tile, write_tile
    from lensfinder.surveys.presets import get_preset

    if args.index < 0:
        raise InputError(f"--index: expected a non-negative integer, got {args.index}")
    cfg = mock_survey_config(parse_key_values(args.overrides, "--set", valid=CONFIG_KEYS), "--set")
    preset = get_preset(cfg.preset)
    if args.bands:
        preset.check_bands(args.bands, "--bands")
    # every band of the preset is rendered (the catalogue's colours), and the extra ones asked for
    mock = make_tile(args.tile, args.index, args.seed, cfg,
                     bands=[*preset.bands, *(b for b in args.bands or () if b not in preset.bands)])
    bands = args.bands or [mock.detection_band]
    paths = _band_paths(bands, {"--out-image": args.out_image, "--out-weight": args.out_weight,
                                "--out-mask": args.out_mask})
    write_tile(mock, paths["--out-image"], paths["--out-weight"], paths["--out-mask"], args.out_catalog,
               args.out_truth)
    log.info("wrote %s (%d x %d, bands %s), %d catalogue rows, truth %s", Path(args.out_image[0]).name,
             *mock.image.shape, ",".join(bands), len(mock.catalog),
             mock.truth["object_type"].value_counts().to_dict())
    return 0


def _band_paths(bands, options: dict) -> dict:
    """``{option: {band: path}}``: each option's paths paired with ``bands`` (InputError on a count mismatch)."""
    from lensfinder.io import InputError

    if len(set(bands)) != len(bands):
        raise InputError(f"--bands: {' '.join(bands)}: expected distinct bands")
    for option, values in options.items():
        if len(values) != len(bands):
            raise InputError(f"{option}: expected {len(bands)} path(s), one per band of --bands "
                             f"({', '.join(bands)}), got {len(values)}")
    return {option: dict(zip(bands, values)) for option, values in options.items()}


# ---------------------------------------------------------------- KiDS


def add_download_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-catalog``."""
    from lensfinder.surveys.columns import RELEASES
    from lensfinder.surveys.eso import ESO_TAP_CAT_URL

    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tile", help="KiDS tile name, e.g. KIDS_5.6_-28.2")
    where.add_argument("--region", nargs=3, type=float, metavar=("RA", "DEC", "RADIUS_DEG"),
                       help="circle in degrees (ICRS)")
    parser.add_argument("--release", default="dr4", choices=list(RELEASES),
                        help="dr4 = DR4.1 table, dr4.0 = DR4.0 table, dr3 = DR3 table")
    parser.add_argument("--out", required=True, type=Path, help="catalogue part (Parquet); skipped if it exists")
    parser.add_argument("--tap-url", default=ESO_TAP_CAT_URL, help="TAP service base URL")
    parser.add_argument("--mode", default="auto", choices=["auto", "sync", "async"],
                        help="auto: sync, then an async job after a timeout")
    add_retry_arguments(parser, "timeouts and 5xx")
    parser.add_argument("--columns", default=None,
                        help="comma-separated column list replacing the release's default (columns.py); "
                             "spaces around the names are ignored")


def _column_list(text: str | None) -> list[str] | None:
    """The names of a ``--columns`` value, stripped, empty ones dropped; ``None`` when not given."""
    from lensfinder.io import InputError

    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InputError(f"--columns: {text!r}: expected comma-separated column names, e.g. 'ID,KIDS_TILE,MAG_AUTO'")
    return names


def run_download_catalog(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-catalog``."""
    from lensfinder.surveys.base import make_session
    from lensfinder.surveys.kids import download_catalog

    columns = _column_list(args.columns)
    with make_session(args.timeout) as session:
        download_catalog(args.out, args.release, tile=args.tile, region=args.region, tap_url=args.tap_url,
                         mode=args.mode, retries=args.retries, backoff_s=args.backoff, session=session,
                         columns=columns)
    return 0


def add_list_tiles_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder list-tiles``."""
    from lensfinder.surveys.columns import RELEASES
    from lensfinder.surveys.eso import ESO_TAP_CAT_URL

    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every tile of the release (one async TAP query)")
    which.add_argument("--region", nargs=3, type=float, metavar=("RA", "DEC", "RADIUS_DEG"),
                       help="tiles with catalogue sources in this circle (degrees, ICRS)")
    which.add_argument("--tiles", nargs="+", metavar="TILE", help="these tiles (checked, sorted; no query)")
    parser.add_argument("--release", default="dr4", choices=list(RELEASES), help="catalogue release (default dr4)")
    parser.add_argument("--out", required=True, type=Path, help="tile table (CSV: tile, ra_deg, dec_deg)")
    parser.add_argument("--tap-url", default=ESO_TAP_CAT_URL, help="TAP service base URL")
    add_retry_arguments(parser, "timeouts and 5xx")


def run_list_tiles(args: argparse.Namespace) -> int:
    """Run ``lensfinder list-tiles``: the tiles of a release, a region or a list, as a table."""
    from lensfinder.surveys.base import make_session
    from lensfinder.surveys.kids import kids_tiles, write_tile_list

    with make_session(args.timeout) as session:
        tiles = kids_tiles(args.release, tiles=args.tiles, region=args.region, tap_url=args.tap_url,
                           session=session, retries=args.retries, backoff_s=args.backoff)
    write_tile_list(tiles, args.out)
    log.info("%d KiDS %s tile(s) -> %s", len(tiles), args.release, args.out)
    return 0


def add_download_tile_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-tile``."""
    from lensfinder.surveys.columns import RELEASES
    from lensfinder.surveys.eso import ESO_DATAPORTAL_URL, ESO_TAP_OBS_URL

    parser.add_argument("--tile", required=True, help="KiDS tile name, e.g. KIDS_5.6_-28.2")
    parser.add_argument("--band", default="r", help="band (default r)")
    parser.add_argument("--out-image", required=True, type=Path, help="coadd in the tile format (FITS)")
    parser.add_argument("--out-weight", required=True, type=Path, help="weight map (FITS, float32)")
    parser.add_argument("--out-mask", required=True, type=Path, help="mask (FITS, int16, >0 masked)")
    parser.add_argument("--release", default="dr4", choices=list(RELEASES),
                        help="catalogue release whose coadds to take (dr4: KiDS DR4.0 images; dr3: DR3.0, "
                             "else DR2.0/DR1.0); default dr4")
    parser.add_argument("--image-release", default=None, metavar="DRx.y",
                        help="take this image release instead, e.g. DR5.0 (the catalogue will not match it)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"raw downloads by dp_id, partial files resumed {_CACHE_HELP}")
    parser.add_argument("--obscore-url", default=ESO_TAP_OBS_URL, help="ObsCore TAP service base URL")
    parser.add_argument("--dataportal-url", default=ESO_DATAPORTAL_URL, help="file download base URL ({url}/{dp_id})")
    parser.add_argument("--soda-url", default=None, help="SODA endpoint (default: from Datalink)")
    parser.add_argument("--cutout", nargs=3, type=float, metavar=("RA", "DEC", "SIZE_ARCSEC"),
                        help="server-side SODA cutout instead of whole files")
    add_retry_arguments(parser, "timeouts, 5xx and truncated files")


def run_download_tile(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-tile`` through :class:`~lensfinder.surveys.kids.KidsBackend`."""
    from lensfinder.surveys.kids import KidsBackend

    with KidsBackend(args.release, image_release=args.image_release, obscore_url=args.obscore_url,
                     dataportal_url=args.dataportal_url, soda_url=args.soda_url, cache_dir=args.cache_dir,
                     retries=args.retries, backoff_s=args.backoff, timeout_s=args.timeout) as backend:
        backend.fetch_image(args.tile, args.band, args.out_image, args.out_weight, args.out_mask, cutout=args.cutout)
    return 0


# ---------------------------------------------------------------- DESI Legacy Surveys


def add_download_legacy_field_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-legacy-field``."""
    from lensfinder.surveys.legacy import LEGACY_TAP_URL
    from lensfinder.surveys.legacy_images import (LEGACY_CUTOUT_URL, LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                                                  LEGACY_MASK_BITS, LEGACY_MAX_SIZE_PIX)

    parser.add_argument("--field", required=True, help="field name (the pipeline's tile name)")
    parser.add_argument("--ra", required=True, type=float, help="field centre RA (deg, ICRS)")
    parser.add_argument("--dec", required=True, type=float, help="field centre Dec (deg, ICRS)")
    parser.add_argument("--size-pix", required=True, type=int,
                        help=f"field side in 0.262\" pixels, 1..{LEGACY_MAX_SIZE_PIX} (the cutout service clips larger)")
    parser.add_argument("--bands", nargs="+", default=["r"], metavar="BAND",
                        help="bands to download, one cutout request and one --out-image/--out-weight/--out-mask "
                             "path each, in this order (default: r)")
    parser.add_argument("--out-image", nargs="+", required=True, type=Path,
                        help="image in the tile format (FITS), one per band")
    parser.add_argument("--out-weight", nargs="+", required=True, type=Path, help="weight map (FITS, float32), one per band")
    parser.add_argument("--out-mask", nargs="+", required=True, type=Path, help="mask (FITS, int32: DR10 MASKBITS reach bit 15; >0 masked), one per band")
    parser.add_argument("--out-catalog", required=True, type=Path, help="catalogue part (Parquet, KiDS DR4 names)")
    parser.add_argument("--tap-url", default=LEGACY_TAP_URL, help="TAP service holding ls_dr10.tractor")
    parser.add_argument("--cutout-url", default=LEGACY_CUTOUT_URL, help="Legacy Surveys viewer fits-cutout URL")
    parser.add_argument("--psf-fwhm-arcsec", type=positive_float, default=LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                        help="assumed r-band seeing written as PSF_FWHM (the service gives none); g and z: the "
                             "Legacy preset's medians (Dey et al. 2019)")
    parser.add_argument("--mask-bits", type=int, default=None,
                        help=f"DR10 MASKBITS bits that mask a pixel (default: each band's; r {LEGACY_MASK_BITS}: "
                             "BRIGHT, SATUR_R, ALLMASK_R, MEDIUM, CLUSTER); pixels without data are always masked")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"raw cutouts {_CACHE_HELP}")
    add_retry_arguments(parser, "timeouts, 5xx and truncated answers")


def run_download_legacy_field(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-legacy-field`` through :class:`~lensfinder.surveys.legacy.LegacySurveyBackend`."""
    from lensfinder.surveys.legacy import LegacySurveyBackend

    paths = _band_paths(args.bands, {"--out-image": args.out_image, "--out-weight": args.out_weight,
                                     "--out-mask": args.out_mask})
    with LegacySurveyBackend(base_url=args.cutout_url, tap_url=args.tap_url, cache_dir=args.cache_dir,
                             psf_fwhm_arcsec=args.psf_fwhm_arcsec, mask_bits=args.mask_bits, retries=args.retries,
                             backoff_s=args.backoff, timeout_s=args.timeout) as backend:
        backend.fetch_field(args.field, args.ra, args.dec, args.size_pix, paths["--out-image"],
                            paths["--out-weight"], paths["--out-mask"], args.out_catalog)
    return 0
