"""Join per-tile CNN scores with their stamp index and catalogue columns.

Output table (one row per scored stamp)
---------------------------------------
object_id : str
    Catalogue ``ID``.
p_cnn : float
    CNN lens probability.
model, model_hash : str
    Network that scored the stamp.
tile : str
ra, dec : float
    Degrees (ICRS).
psf_fwhm_arcsec : float
    Seeing of the stamp's tile (arcsec).
<sample flags> : bool
    One column per preselected sample (``bg_li2020``, ``lrg_li2020``, ...).
r_auto : float
    ``MAG_AUTO`` (r-band Kron magnitude, mag).
z_phot : float
    ``Z_B`` (BPZ photometric redshift), NaN when the catalogue has none.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lensfinder.io import read_table, require_columns, write_table

__all__ = ["collect_predictions", "SAMPLE_COLUMNS"]

log = logging.getLogger(__name__)

#: Sample flag columns that may appear in stamp indexes.
SAMPLE_COLUMNS = ("bg_li2020", "lrg_li2020", "lrg_he2020", "lrg_he2020_refined")


def collect_predictions(predictions, indexes, catalog):
    """Join score tables with stamp indexes and the catalogue.

    Parameters
    ----------
    predictions : list of pandas.DataFrame
        Per-shard scores with ``object_id`` and ``p_cnn``.
    indexes : list of pandas.DataFrame
        Stamp indexes (``object_id``, ``tile``, ``ra``, ``dec``, sample flags).
    catalog : pandas.DataFrame
        Catalogue with ``ID`` and ``MAG_AUTO`` (``Z_B`` optional).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    pred = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(columns=["object_id", "p_cnn"])
    index = pd.concat(indexes, ignore_index=True) if indexes else pd.DataFrame(columns=["object_id"])
    keep = [c for c in ["object_id", "tile", "ra", "dec", "psf_fwhm_arcsec", *SAMPLE_COLUMNS] if c in index.columns]
    index = index[keep].drop_duplicates("object_id")
    out = pred.merge(index, on="object_id", how="left", suffixes=("", "_index"))
    cat = catalog[["ID", "MAG_AUTO"] + (["Z_B"] if "Z_B" in catalog.columns else [])].rename(
        columns={"ID": "object_id", "MAG_AUTO": "r_auto", "Z_B": "z_phot"}
    )
    out = out.merge(cat.drop_duplicates("object_id"), on="object_id", how="left")
    if "z_phot" not in out.columns:
        out["z_phot"] = float("nan")
    for column in SAMPLE_COLUMNS:
        if column in out.columns:
            out[column] = out[column].fillna(False).astype(bool)
    unmatched = int(out["tile"].isna().sum()) if "tile" in out.columns else len(out)
    if unmatched:
        log.warning("%d scored object(s) have no stamp index row", unmatched)
    return out


def add_collect_predictions_arguments(parser):
    parser.add_argument("--predictions", nargs="+", required=True, help="per-tile score tables (Parquet)")
    parser.add_argument("--stamp-index", nargs="+", required=True, help="stamp indexes (Parquet), any order")
    parser.add_argument("--catalog", required=True, help="merged catalogue (Parquet) with ID and MAG_AUTO")
    parser.add_argument("--out", required=True, help="output table (Parquet)")


def run_collect_predictions(args) -> int:
    preds = [read_table(p, required=["object_id", "p_cnn"]) for p in args.predictions]
    indexes = [read_table(p, required=["object_id"]) for p in args.stamp_index]
    catalog = read_table(args.catalog)
    require_columns(catalog, ["ID", "MAG_AUTO"], args.catalog)
    out = collect_predictions(preds, indexes, catalog)
    write_table(out, args.out)
    log.info("collected %d scores from %d tables into %s", len(out), len(preds), Path(args.out))
    return 0
