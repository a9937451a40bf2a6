"""The survey steps' command line: mock-survey, download-catalog, download-tile, download-legacy-field."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lensfinder.cli.options import add_retry_arguments, parse_key_values

__all__ = [
    "add_mock_survey_arguments",
    "run_mock_survey",
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
    from lensfinder.surveys.mock.tiles import CONFIG_KEYS

    parser.add_argument("--tile", required=True, help="tile name, e.g. MOCK_0 (the catalogue's KIDS_TILE)")
    parser.add_argument("--index", type=int, required=True, help="tile index: sky position and random stream")
    parser.add_argument("--seed", type=int, default=42, help="master seed (default 42)")
    parser.add_argument("--out-image", required=True, help="r-band image FITS")
    parser.add_argument("--out-weight", required=True, help="inverse-variance weight FITS")
    parser.add_argument("--out-mask", required=True, help="mask FITS (int16, > 0 masked)")
    parser.add_argument("--out-catalog", required=True, help="catalogue Parquet (KiDS DR4 columns)")
    parser.add_argument("--out-truth", required=True, help="truth Parquet (evaluation only)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (value parsed as YAML), e.g. --set size_pix=1000 "
                             "--set 'psf_fwhm_arcsec=[0.6, 0.8]'; keys: " + ", ".join(CONFIG_KEYS))


def run_mock_survey(args: argparse.Namespace) -> int:
    """Generate one tile and write its files."""
    from lensfinder.io import InputError
    from lensfinder.surveys.mock.tiles import CONFIG_KEYS, make_tile, mock_survey_config, write_tile

    if args.index < 0:
        raise InputError(f"--index: expected a non-negative integer, got {args.index}")
    cfg = mock_survey_config(parse_key_values(args.overrides, "--set", valid=CONFIG_KEYS), "--set")
    mock = make_tile(args.tile, args.index, args.seed, cfg)
    write_tile(mock, args.out_image, args.out_weight, args.out_mask, args.out_catalog, args.out_truth)
    log.info("wrote %s (%d x %d), %d catalogue rows, truth %s", Path(args.out_image).name, *mock.image.shape,
             len(mock.catalog), mock.truth["object_type"].value_counts().to_dict())
    return 0


# ---------------------------------------------------------------- KiDS


def add_download_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-catalog``."""
    from lensfinder.surveys.columns import RELEASES
    from lensfinder.surveys.kids import ESO_TAP_CAT_URL

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
                        help="comma-separated column list replacing the release's default (columns.py)")


def run_download_catalog(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-catalog``."""
    from lensfinder.surveys.base import make_session
    from lensfinder.surveys.kids import download_catalog

    with make_session(args.timeout) as session:
        download_catalog(args.out, args.release, tile=args.tile, region=args.region, tap_url=args.tap_url,
                         mode=args.mode, retries=args.retries, backoff_s=args.backoff, session=session,
                         columns=args.columns.split(",") if args.columns else None)
    return 0


def add_download_tile_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-tile``."""
    from lensfinder.surveys.kids import ESO_DATAPORTAL_URL, ESO_TAP_OBS_URL

    parser.add_argument("--tile", required=True, help="KiDS tile name, e.g. KIDS_5.6_-28.2")
    parser.add_argument("--band", default="r", help="band (default r)")
    parser.add_argument("--out-image", required=True, type=Path, help="coadd in the tile format (FITS)")
    parser.add_argument("--out-weight", required=True, type=Path, help="weight map (FITS, float32)")
    parser.add_argument("--out-mask", required=True, type=Path, help="mask (FITS, int16, >0 masked)")
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

    with KidsBackend(obscore_url=args.obscore_url, dataportal_url=args.dataportal_url, soda_url=args.soda_url,
                     cache_dir=args.cache_dir, retries=args.retries, backoff_s=args.backoff,
                     timeout_s=args.timeout) as backend:
        backend.fetch_image(args.tile, args.band, args.out_image, args.out_weight, args.out_mask, cutout=args.cutout)
    return 0


# ---------------------------------------------------------------- DESI Legacy Surveys


def add_download_legacy_field_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder download-legacy-field``."""
    from lensfinder.surveys.legacy import (LEGACY_CUTOUT_URL, LEGACY_DR10_R_PSF_FWHM_ARCSEC, LEGACY_MAX_SIZE_PIX,
                                           LEGACY_TAP_URL)

    parser.add_argument("--field", required=True, help="field name (the pipeline's tile name)")
    parser.add_argument("--ra", required=True, type=float, help="field centre RA (deg, ICRS)")
    parser.add_argument("--dec", required=True, type=float, help="field centre Dec (deg, ICRS)")
    parser.add_argument("--size-pix", required=True, type=int,
                        help=f"field side in 0.262\" pixels, 1..{LEGACY_MAX_SIZE_PIX} (the cutout service's cap)")
    parser.add_argument("--out-image", required=True, type=Path, help="r-band image in the tile format (FITS)")
    parser.add_argument("--out-weight", required=True, type=Path, help="weight map (FITS, float32)")
    parser.add_argument("--out-mask", required=True, type=Path, help="mask (FITS, int16, >0 masked)")
    parser.add_argument("--out-catalog", required=True, type=Path, help="catalogue part (Parquet, KiDS DR4 names)")
    parser.add_argument("--tap-url", default=LEGACY_TAP_URL, help="TAP service holding ls_dr10.tractor")
    parser.add_argument("--cutout-url", default=LEGACY_CUTOUT_URL, help="Legacy Surveys viewer fits-cutout URL")
    parser.add_argument("--psf-fwhm-arcsec", type=float, default=LEGACY_DR10_R_PSF_FWHM_ARCSEC,
                        help="assumed r-band seeing written as PSF_FWHM (the service gives none)")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"raw cutouts {_CACHE_HELP}")
    add_retry_arguments(parser, "timeouts, 5xx and truncated answers")


def run_download_legacy_field(args: argparse.Namespace) -> int:
    """Run ``lensfinder download-legacy-field`` through :class:`~lensfinder.surveys.legacy.LegacySurveyBackend`."""
    from lensfinder.surveys.legacy import LegacySurveyBackend

    with LegacySurveyBackend(base_url=args.cutout_url, tap_url=args.tap_url, cache_dir=args.cache_dir,
                             psf_fwhm_arcsec=args.psf_fwhm_arcsec, retries=args.retries, backoff_s=args.backoff,
                             timeout_s=args.timeout) as backend:
        backend.fetch_field(args.field, args.ra, args.dec, args.size_pix, args.out_image, args.out_weight,
                            args.out_mask, args.out_catalog)
    return 0
