"""Merge per-tile catalogue parts into one table with one set of columns and consistent dtypes.

The rules (empty parts, integer/float promotion, refused mixes) are in docs/selection.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lensfinder.io import InputError, read_table, write_table

__all__ = ["merge_parts", "merge_catalog_files"]

log = logging.getLogger(__name__)

#: the object ID column of every release's catalogue parts (KiDS DR3, DR4; the Legacy fields write KiDS DR4 names)
ID_COLUMN = "ID"


def _kind(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "str"
    return str(dtype)


def merge_parts(parts: Sequence[pd.DataFrame], names: Sequence[str] | None = None) -> pd.DataFrame:
    """Concatenate catalogue parts with one set of columns and consistent dtypes.

    Parameters
    ----------
    parts : sequence of pandas.DataFrame
        Per-tile catalogue tables (may be empty).
    names : sequence of str, optional
        Names of the parts (file paths) for error messages.

    Returns
    -------
    pandas.DataFrame
        All rows, in part order, with a fresh index.

    Raises
    ------
    lensfinder.io.InputError
        No parts, a part with different columns, or incompatible dtypes.
    """
    names = list(names) if names is not None else [f"part {k}" for k in range(len(parts))]
    if not parts:
        raise InputError("merge-catalog: --parts: at least one catalogue part is needed")
    columns = list(parts[0].columns)
    for name, part in zip(names[1:], parts[1:]):
        if set(part.columns) != set(columns):
            extra = sorted(set(part.columns) - set(columns))
            missing = sorted(set(columns) - set(part.columns))
            raise InputError(
                f"{name}: columns differ from {names[0]}: "
                + (f"missing {', '.join(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected {', '.join(extra)}" if extra else "")
            )
    target: dict[str, object] = {}
    for column in columns:
        # empty parts carry a schema but no evidence about values: ignore
        # their dtypes unless every part is empty
        informative = [p for p in parts if len(p)] or list(parts)
        kinds = {_kind(p[column].dtype) for p in informative}
        has_na = any(p[column].isna().any() for p in informative)
        if kinds == {"bool"}:
            target[column] = "bool" if not has_na else "boolean"
        elif kinds == {"int"}:
            target[column] = "int64" if not has_na else "float64"
        elif kinds <= {"int", "float"}:
            target[column] = "float64"
        elif kinds == {"str"}:
            target[column] = str
        else:
            bad = ", ".join(f"{n}: {p[column].dtype}" for n, p in zip(names, parts))
            raise InputError(f"{column}: incompatible dtypes across catalogue parts ({bad})")
    converted = []
    for name, part in zip(names, parts):
        try:
            converted.append(part[columns].astype(target))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name}: cannot convert to the merged dtypes: {exc}") from exc
    merged = pd.concat(converted, ignore_index=True)
    # concat of only-empty frames can lose the intended dtypes
    return merged.astype(target) if len(merged) == 0 else merged


def _shown(ids) -> str:
    ids = list(ids)
    return ", ".join(repr(v) for v in ids[:5]) + (", ..." if len(ids) > 5 else "")


def _refuse_repeated_ids(ids: pd.Series, names: Sequence[str], sizes: Sequence[int]) -> None:
    """Refuse an object ID in two parts (naming both files) or twice in one, as preselect would later, less clearly."""
    repeated = ids.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    rows = np.flatnonzero(repeated)
    part = np.searchsorted(np.cumsum(sizes), rows, side="right")  # each repeated row's part
    owners = pd.DataFrame({"id": ids.to_numpy()[rows], "part": part}).groupby("id", sort=False, dropna=False)["part"]
    parts = owners.unique()  # ID -> the parts holding it, in part order
    across = parts[parts.map(len) > 1]
    if len(across):
        a, b = across.iloc[0][:2]
        pair = [i for i, held in across.items() if a in held and b in held]
        raise InputError(f"{names[b]}: {ID_COLUMN}: {len(across)} IDs appear in more than one part, e.g. {_shown(pair)} "
                         f"also in {names[a]}; expected one row per object (a catalogue part or tile given twice?)")
    first = parts.iloc[0][0]
    held = owners.size()[[p[0] == first for p in parts]]
    raise InputError(f"{names[first]}: {ID_COLUMN}: {len(held)} IDs appear more than once ({int(held.sum())} rows), "
                     f"e.g. {_shown(held.index)}; expected one row per object")


def merge_catalog_files(parts: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """:func:`merge_parts` of catalogue part files (Parquet), written to ``out``.

    Returns
    -------
    pandas.DataFrame
        The merged catalogue written.

    Raises
    ------
    lensfinder.io.InputError
        As :func:`merge_parts`; also one file given twice, or an ``ID`` in two parts (naming both files) or
        twice in one (preselect would refuse the merged catalogue for it).
    """
    seen: dict[Path, str] = {}
    for p in map(str, parts):
        key = Path(p).resolve()
        if key in seen:
            raise InputError(f"--parts: {p}: the same file as {seen[key]}, given before; expected each "
                             "catalogue part once")
        seen[key] = p
    tables = [read_table(p) for p in parts]
    merged = merge_parts(tables, [str(p) for p in parts])
    if ID_COLUMN in merged.columns:
        _refuse_repeated_ids(merged[ID_COLUMN], [str(p) for p in parts], [len(t) for t in tables])
    write_table(merged, out)
    log.info("merged %d parts, %d rows -> %s", len(tables), len(merged), out)
    return merged
