"""Merge per-tile catalogue parts into one table.

Every part (``results/survey/catalog/{tile}.parquet``) must have the same
columns; their order may differ (the first part's order wins). Empty parts (a
tile with no objects, an empty query result) are allowed and contribute their
schema only. Dtypes are made consistent: a column that is integer in one part
and floating (or integer with missing values) in another becomes float64;
a column that is boolean in one part and anything else elsewhere is an error,
as is any other mix that pandas cannot promote to one numeric type.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from lensfinder.io import InputError, read_table, write_table

__all__ = ["merge_parts", "add_merge_catalog_arguments", "run_merge_catalog"]

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


def add_merge_catalog_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder merge-catalog``."""
    parser.add_argument("--parts", nargs="+", required=True, type=Path, help="per-tile catalogue parts (Parquet)")
    parser.add_argument("--out", required=True, type=Path, help="merged catalogue (Parquet)")


def run_merge_catalog(args: argparse.Namespace) -> int:
    """Run ``lensfinder merge-catalog``."""
    parts = [read_table(p) for p in args.parts]
    merged = merge_parts(parts, [str(p) for p in args.parts])
    write_table(merged, args.out)
    log.info("merged %d parts, %d rows -> %s", len(parts), len(merged), args.out)
    return 0

