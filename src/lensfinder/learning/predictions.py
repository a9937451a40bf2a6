"""Per-tile CNN scores joined with their stamp index and catalogue columns (columns: docs/learning.md)."""

from __future__ import annotations

import logging
from pathlib import Path

from lensfinder.checks import require_scores
from lensfinder.io import InputError, bool_column, read_table, require_columns, write_table

__all__ = ["collect_predictions", "collect_prediction_files", "SAMPLE_COLUMNS"]

log = logging.getLogger(__name__)

#: Sample flag columns that may appear in stamp indexes: every release's preselection samples
#: (lensfinder.selection.preselect.SAMPLES, not imported here: it needs pandas, and `--help` would pay for it).
SAMPLE_COLUMNS = ("bg_li2020", "lrg_li2020", "disk_blue", "lrg_he2020", "lrg_he2020_refined")


def collect_predictions(predictions, indexes, catalog):
    """Join score tables with stamp indexes and the catalogue.

    Parameters
    ----------
    predictions : list of pandas.DataFrame
        Per-shard scores with ``object_id`` and ``p_cnn`` (and ``shard``: an object scored in two
        tiles keeps each tile's ``tile``, ``ra``, ``dec``, PSF and flags on its own row).
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
    out = _join_index(pred, index[keep])
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


def _join_index(pred, index):
    """``pred`` with its stamp index row: the row of the score's own tile (its ``shard``, the cube's stem,
    where that is a tile of the index), else the first row of its ``object_id``; in ``pred``'s order."""
    import pandas as pd

    pred = pred.assign(_row=range(len(pred)))
    by_id = index.drop_duplicates("object_id")
    if "shard" not in pred.columns or "tile" not in index.columns:
        return pred.merge(by_id, on="object_id", how="left", suffixes=("", "_index")).drop(columns="_row")
    tiles = set(index["tile"].dropna().astype(str))
    own = pred["shard"].astype(str).isin(tiles).to_numpy()
    by_tile = index.assign(_tile=index["tile"].astype(str)).drop_duplicates(["object_id", "_tile"])
    parts = [pred[own].assign(_tile=pred["shard"][own].astype(str)).merge(
                 by_tile, on=["object_id", "_tile"], how="left", suffixes=("", "_index")).drop(columns="_tile"),
             pred[~own].merge(by_id, on="object_id", how="left", suffixes=("", "_index"))]
    parts = [part for part in parts if len(part)] or parts[:1]
    return pd.concat(parts, ignore_index=True).sort_values("_row").drop(columns="_row").reset_index(drop=True)


def _refuse_duplicate_scores(paths, tables) -> None:
    """Refuse an object scored twice in one shard: a repeated ``(object_id, shard)`` (``object_id`` without
    ``shard``) across the score tables; an object scored in two tiles (two shards) is two rows by right."""
    import pandas as pd

    if not tables:
        return
    by_shard = all("shard" in t.columns for t in tables)
    keys = ["object_id", "shard"] if by_shard else ["object_id"]
    table = pd.concat([t[keys].astype(str).assign(_source=str(p)) for p, t in zip(paths, tables)],
                      ignore_index=True)
    dup = table.duplicated(keys)
    if dup.any():
        row = table[dup].iloc[0]
        where = f" in shard {row['shard']!r}" if by_shard else ""
        raise InputError(f"{row['_source']}: object_id: {row['object_id']!r} is scored twice{where} "
                         f"({int(dup.sum())} repeated rows); expected one score per object and shard")


def collect_prediction_files(predictions, stamp_indexes, catalog, out):
    """:func:`collect_predictions` of score tables, stamp indexes and a catalogue file, written to ``out``.

    Parameters
    ----------
    predictions : sequence of path
        Per-tile score tables (``object_id``, ``p_cnn``).
    stamp_indexes : sequence of path
        Stamp indexes (``object_id``), any order.
    catalog : path
        Merged catalogue with ``ID`` and ``MAG_AUTO``.
    out : path
        Output table (Parquet).

    Returns
    -------
    pandas.DataFrame
        The table written.
    """
    preds = [read_table(p, required=["object_id", "p_cnn"]) for p in predictions]
    for path, table in zip(predictions, preds):
        require_scores(table, path)
    _refuse_duplicate_scores(predictions, preds)
    indexes = [read_table(p, required=["object_id", "tile", "ra", "dec"]) for p in stamp_indexes]
    for path, index in zip(stamp_indexes, indexes):
        for column in SAMPLE_COLUMNS:
            if column in index.columns:
                index[column] = bool_column(index[column].to_numpy(), str(path), column)
    cat = read_table(catalog)
    require_columns(cat, ["ID", "MAG_AUTO"], catalog)
    table = collect_predictions(preds, indexes, cat)
    write_table(table, out)
    log.info("collected %d scores from %d tables into %s", len(table), len(preds), Path(out))
    return table
