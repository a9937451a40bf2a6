"""The selection steps' command line: ``merge-catalog``, ``preselect``, ``stamps``."""

from __future__ import annotations

import argparse
from pathlib import Path

from lensfinder import constants
from lensfinder.io import InputError
from lensfinder.selection.catalog import merge_catalog_files
from lensfinder.selection.preselect import preselect_files
from lensfinder.selection.stamps import write_tile_stamps

__all__ = [
    "add_merge_catalog_arguments", "run_merge_catalog",
    "add_preselect_arguments", "run_preselect",
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
    parser.add_argument("--cutflow", required=True, type=Path,
                        help="cut-flow table (Parquet; a CSV copy is written beside it)")
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
    preselect_files(args.catalog, args.out, args.cutflow, args.release, mask_cut=args.mask_cut,
                    colours=args.colours, apply_dmag=args.apply_dmag, mask_bits=args.mask_bits)
    return 0


def add_stamps_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder stamps``."""
    parser.add_argument("--image", required=True, help="tile coadd FITS (r band)")
    parser.add_argument("--weight", help="inverse-variance weight FITS (weight <= 0 counts as masked)")
    parser.add_argument("--mask", help="mask FITS (> 0 masked)")
    parser.add_argument("--catalog", required=True, help="catalogue Parquet (ID, KIDS_TILE, RAJ2000, DECJ2000)")
    parser.add_argument("--flags", required=True, help="preselection flags Parquet (ID + sample columns)")
    parser.add_argument("--tile", required=True, help="tile name (catalogue KIDS_TILE)")
    parser.add_argument("--samples", nargs="+", default=["bg_li2020", "lrg_li2020"],
                        help="sample flag columns; an object is cut when any is true")
    parser.add_argument("--size", type=int, default=constants.LI2020_STAMP_SIZE,
                        help=f"stamp side, pixels (default {constants.LI2020_STAMP_SIZE}, Li et al. 2020)")
    parser.add_argument("--psf-fwhm-arcsec", type=float, help="override the header's PSF FWHM")
    parser.add_argument("--zeropoint-mag", type=float, help="override the header's zero point")
    parser.add_argument("--out-cube", required=True, help="output FITS cube")
    parser.add_argument("--out-index", required=True, help="output Parquet index")


def run_stamps(args: argparse.Namespace) -> int:
    """Cut one tile's stamps and write the cube and its index."""
    if args.size < 1:
        raise InputError(f"--size: expected a positive number of pixels, got {args.size}")
    write_tile_stamps(args.image, args.catalog, args.flags, args.tile, args.samples, args.size,
                      args.out_cube, args.out_index, mask=args.mask, weight=args.weight,
                      psf_fwhm_arcsec=args.psf_fwhm_arcsec, zeropoint_mag=args.zeropoint_mag)
    return 0
