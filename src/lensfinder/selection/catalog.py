"""Merge per-tile catalogue parts into one table with one set of columns and consistent dtypes.

The rules (empty parts, integer/float promotion, refused mixes) are in docs/selection.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from lensfinder.io import InputError, read_table, write_table

__all__ = ["merge_parts", "merge_catalog_files"]

log = logging.getLogger(__name__)


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


def merge_catalog_files(parts: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """:func:`merge_parts` of catalogue part files (Parquet), written to ``out``.

    Returns
    -------
    pandas.DataFrame
        The merged catalogue written.
    """
    tables = [read_table(p) for p in parts]
    merged = merge_parts(tables, [str(p) for p in parts])
    write_table(merged, out)
    log.info("merged %d parts, %d rows -> %s", len(tables), len(merged), out)
    return merged
