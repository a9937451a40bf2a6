"""Reading an inspection set for grading: the manifest's objects, in grading order, with what is known of them.

An inspection set (written by ``lensfinder candidates``) is a directory with
``manifest.parquet`` (or ``manifest.csv``), the PNGs it names and, where
present, the stamp cubes its ``stamps_<band>`` columns name, ``candidates.parquet``
(positions, tiles) and ``known.parquet`` (the truth of mixed-in simulations).
:class:`~lensfinder.inspection.session.GradingSession` grades one.
"""

from __future__ import annotations

import math
from pathlib import Path

from lensfinder.inspection.pixels import StampCubes
from lensfinder.io import InputError, read_table, require_columns

__all__ = ["read_inspection_set"]


def read_inspection_set(set_dir: Path):
    """The objects of the set in ``set_dir`` (a resolved path), and its stamp cubes.

    Returns
    -------
    items : list of dict
        One per manifest row, in the manifest's ``order``: ``object_id, name`` (its ``display_name``),
        ``pngs`` (label -> path; ``png`` and each ``png_<label>`` column), ``p_cnn`` (NaN without one),
        ``samples``, ``ra, dec, tile`` (from candidates.parquet) and ``truth`` (``is_lens`` of a mixed-in
        simulation, else None).
    cubes : lensfinder.inspection.pixels.StampCubes
    """
    import pandas as pd

    pq, csv_path = set_dir / "manifest.parquet", set_dir / "manifest.csv"
    if pq.exists():
        manifest, source = read_table(pq), str(pq)
    elif csv_path.exists():
        manifest, source = pd.read_csv(csv_path, dtype={"object_id": str, "png": str}, keep_default_na=False), \
            str(csv_path)
    else:
        raise InputError(f"{set_dir}: no manifest.parquet or manifest.csv (run lensfinder candidates)")
    require_columns(manifest, ["object_id", "png"], source, "inspection manifest")
    if "order" in manifest.columns:
        manifest = manifest.sort_values("order", kind="mergesort")
    manifest = manifest.reset_index(drop=True)
    ids = manifest["object_id"].astype(str)
    extra = _extra_columns(set_dir, ids)
    names = manifest["display_name"] if "display_name" in manifest.columns else ids
    pngs = {c: manifest[c].astype(str) for c in manifest.columns if c == "png" or str(c).startswith("png_")}
    items = []
    for k, (oid, name) in enumerate(zip(ids, names.astype(str))):
        paths = {}
        for column, values in pngs.items():
            if not values[k]:
                continue
            path = (set_dir / values[k]).resolve()
            if not path.is_relative_to(set_dir):
                raise InputError(f"{source}: {column}: {values[k]!r} for {oid!r} lies outside the set directory")
            paths["png" if column == "png" else column[len("png_"):]] = path
        row = extra.get(oid, {})
        p_cnn = _score(manifest["p_cnn"].iloc[k], source, oid) if "p_cnn" in manifest.columns else math.nan
        items.append({"object_id": oid, "name": name, "pngs": paths, "p_cnn": p_cnn,
                      "samples": str(manifest["samples"].iloc[k]) if "samples" in manifest.columns else "",
                      "ra": row.get("ra", math.nan), "dec": row.get("dec", math.nan), "tile": row.get("tile"),
                      "truth": row.get("is_lens")})
    return items, StampCubes(set_dir, manifest, source)


def _extra_columns(set_dir: Path, ids) -> dict[str, dict]:
    """Positions and tiles (candidates.parquet) and truth of mixed-in simulations (known.parquet), by id."""
    extra: dict[str, dict] = {}
    candidates = set_dir / "candidates.parquet"
    if candidates.exists():
        cand = read_table(candidates)
        cols = [c for c in ("ra", "dec", "tile") if c in cand.columns]
        for oid, *values in zip(cand["object_id"].astype(str), *(cand[c] for c in cols)):
            extra[oid] = dict(zip(cols, values))
    known = set_dir / "known.parquet"
    if known.exists():
        table = read_table(known, required=["object_id", "is_lens"])
        for oid, is_lens in zip(table["object_id"].astype(str), table["is_lens"].astype(bool)):
            extra.setdefault(oid, {})["is_lens"] = bool(is_lens)
    wanted = set(ids)
    extra = {oid: row for oid, row in extra.items() if oid in wanted}
    for oid, row in extra.items():  # a tile names a file in --tile-dir: "../x" or "/x" would be read outside it
        tile = row.get("tile")
        if isinstance(tile, str) and tile and not _plain_name(tile):
            raise InputError(f"{candidates}: tile: {tile[:60]!r} for {oid!r}: expected a plain tile name (no path "
                             f"separators, not '..')")
    return extra


def _plain_name(name: str) -> bool:
    return name not in (".", "..") and not any(ch in name for ch in "/\\\0")


def _score(value, source, object_id) -> float:
    """A manifest's ``p_cnn``: a number, or NaN where it is empty (the mixed-in simulations' rows of a
    manifest.csv, read with empty cells kept as text)."""
    if isinstance(value, str) and not value.strip():
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{source}: p_cnn: {value!r} for {object_id!r} is not a number (expected a CNN score "
                         f"in [0, 1], or empty)") from None
