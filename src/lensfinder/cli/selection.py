"""The selection steps' command line: ``merge-catalog``, ``preselect``, ``merge-preselection``, ``stamps``."""

from __future__ import annotations

import argparse
from pathlib import Path

from lensfinder import constants
from lensfinder.cli.options import positive_float
from lensfinder.io import DEFAULT_BAND, InputError
from lensfinder.selection.catalog import merge_catalog_files
from lensfinder.selection.merge_preselection import merge_preselection_files
from lensfinder.selection.preselect import preselect_files
from lensfinder.selection.stamps import write_tile_stamps

__all__ = [
    "add_merge_catalog_arguments", "run_merge_catalog",
    "add_preselect_arguments", "run_preselect",
    "add_merge_preselection_arguments", "run_merge_preselection",
    "add_stamps_arguments", "run_stamps",
]


def add_merge_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder merge-catalog``."""
    parser.add_argument("--parts", nargs="+", required=True, type=Path, help="per-tile catalogue parts (Parquet)")
    parser.add_argument("--out", required=True, type=Path, help="merged catalogue (Parquet)")


def run_merge_catalog(args: argparse.Namespace) -> int:
    """Run ``lensfinder merge-catalog``."""
    merge_catalog_files(args.parts, args.out)
    return 0


def add_preselect_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder preselect``."""
    parser.add_argument("--catalog", required=True, type=Path, help="merged catalogue (Parquet)")
    parser.add_argument("--release", default="dr4", choices=["dr4", "dr4.0", "dr3"],
                        help="KiDS release: dr4 = Li et al. 2020 samples, dr3 = He et al. 2020 samples")
    parser.add_argument("--out", required=True, type=Path, help="flags table (Parquet): ID + one bool per cut and sample")
    parser.add_argument("--cutflow", type=Path,
                        help="cut-flow table (Parquet; a CSV copy is written beside it; "
                        "default: beside OUT, OUT's stem + .cutflow.parquet)")
    parser.add_argument("--mask-cut", action="store_true",
                        help="add the optional mask cut (MASK, IMAFLAGS_ISO) to every sample (papers: off)")
    parser.add_argument("--mask-bits", type=int, default=None,
                        help="MASK bits that count as masked for --mask-cut (default: any bit)")
    parser.add_argument("--colours", choices=["gaap", "kron"], default=None,
                        help="LRG colour photometry (default: gaap for dr4, kron for dr3)")
    parser.add_argument("--apply-dmag", action="store_true",
                        help="add the per-tile DMAG_R zero-point shift to MAG_AUTO (dr3; papers: off)")


def run_preselect(args: argparse.Namespace) -> int:
    """Run ``lensfinder preselect``."""
    cutflow = args.cutflow or args.out.with_name(f"{args.out.stem}.cutflow.parquet")
    preselect_files(args.catalog, args.out, cutflow, args.release, mask_cut=args.mask_cut,
                    colours=args.colours, apply_dmag=args.apply_dmag, mask_bits=args.mask_bits)
    return 0


def add_merge_preselection_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder merge-preselection``."""
    parser.add_argument("--flags", nargs="+", required=True, type=Path, help="each tile's flags table (Parquet)")
    parser.add_argument("--cutflows", nargs="+", required=True, type=Path,
                        help="each tile's cut-flow table (Parquet), in --flags' order")
    parser.add_argument("--out", required=True, type=Path, help="the whole catalogue's flags table (Parquet)")
    parser.add_argument("--cutflow", required=True, type=Path,
                        help="the whole catalogue's cut flow (Parquet; a CSV copy is written beside it)")


def run_merge_preselection(args: argparse.Namespace) -> int:
    """Run ``lensfinder merge-preselection``."""
    merge_preselection_files(args.flags, args.cutflows, args.out, args.cutflow)
    return 0


def add_stamps_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder stamps``."""
    parser.add_argument("--image", required=True, nargs="+", help="tile coadd FITS, one per band of --bands")
    parser.add_argument("--bands", nargs="+", default=[DEFAULT_BAND],
                        help=f"band of each --image, the cube's band order (default {DEFAULT_BAND})")
    parser.add_argument("--detection-band", default=DEFAULT_BAND,
                        help="band of the catalogue positions; stamps are centred on its pixels "
                        f"(default {DEFAULT_BAND}; the first band when --bands lacks it)")
    parser.add_argument("--weight", nargs="+", help="inverse-variance weight FITS per band (weight <= 0 counts as masked)")
    parser.add_argument("--mask", nargs="+", help="mask FITS per band (> 0 masked)")
    parser.add_argument("--catalog", required=True, help="catalogue Parquet (ID, KIDS_TILE, RAJ2000, DECJ2000)")
    parser.add_argument("--flags", required=True, help="preselection flags Parquet (ID + sample columns)")
    parser.add_argument("--tile", required=True, help="tile name (catalogue KIDS_TILE)")
    parser.add_argument("--samples", nargs="+", default=["bg_li2020", "lrg_li2020"],
                        help="sample flag columns; an object is cut when any is true")
    parser.add_argument("--size", type=int, default=constants.LI2020_STAMP_SIZE,
                        help=f"stamp side, pixels (default {constants.LI2020_STAMP_SIZE}, Li et al. 2020)")
    parser.add_argument("--psf-fwhm-arcsec", type=positive_float, nargs="+",
                        help="override the headers' PSF FWHM (arcsec, > 0), one per band")
    parser.add_argument("--zeropoint-mag", type=float, nargs="+", help="override the headers' zero point, one per band")
    parser.add_argument("--out-cube", required=True, help="output FITS cube (n, n_bands, ny, nx); 3-D for one band")
    parser.add_argument("--out-index", required=True, help="output Parquet index")


def run_stamps(args: argparse.Namespace) -> int:
    """Cut one tile's stamps in every band and write the cube and its index."""
    if args.size < 1 or args.size % 2 == 0:
        raise InputError(f"--size: expected an odd positive number of pixels (the object on the centre pixel, "
                         f"as the simulations put it), got {args.size}")
    if len(set(args.bands)) != len(args.bands):
        raise InputError(f"--bands: {' '.join(args.bands)}: expected distinct band names")
    for option in ("image", "weight", "mask", "psf_fwhm_arcsec", "zeropoint_mag"):
        values = getattr(args, option)
        if values is not None and len(values) != len(args.bands):
            raise InputError(f"--{option.replace('_', '-')}: {len(values)} given for --bands {' '.join(args.bands)}; "
                             "expected one per band, in the same order")
    write_tile_stamps(args.image, args.catalog, args.flags, args.tile, args.samples, args.size,
                      args.out_cube, args.out_index, bands=args.bands, detection_band=args.detection_band,
                      mask=args.mask, weight=args.weight,
                      psf_fwhm_arcsec=args.psf_fwhm_arcsec, zeropoint_mag=args.zeropoint_mag)
    return 0
