"""The whole catalogue's preselection from each tile's: flags concatenated, cut flows summed (``merge-preselection``).

Each tile is preselected on its own (:func:`lensfinder.selection.preselect.preselect_files`); this merge gives
what the preselection of the merged catalogue gives, without reading it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lensfinder.io import InputError, read_table
from lensfinder.selection.catalog import merge_parts
from lensfinder.selection.preselect import CUTFLOW_DTYPES, check_rows, write_flags_and_cutflow

__all__ = ["merge_preselection_files"]

log = logging.getLogger(__name__)


def _counts(cutflow: pd.DataFrame, path: Path) -> np.ndarray:
    """A cut flow's ``n_remaining`` as int64; NaN (which int64 makes -2**63), a fraction, a negative or text is refused."""
    column = cutflow["n_remaining"]
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values % 1 != 0) | (values >= 2.0 ** 53)
    if bad.any():
        raise InputError(f"{path}: n_remaining: {int(bad.sum())} of {len(values)} rows are not counts (e.g. "
                         f"{column.tolist()[np.flatnonzero(bad)[0]]!r}); expected non-negative integer counts")
    return values.astype(np.int64)


def merge_preselection_files(flag_parts, cutflow_parts, out, cutflow_out):
    """The whole catalogue's flags and cut flow from each tile's (:func:`~lensfinder.selection.preselect.preselect_files` of each catalogue part).

    The flags are concatenated (one row per object, as the merged catalogue's) and the cut flows summed step
    by step: every cut acts on one object at a time, so the counts of disjoint tiles add, and the result is
    what :func:`~lensfinder.selection.preselect.preselect_files` gives on the merged catalogue, without reading it (for 10 tiles of 100,000
    rows: 0.71 s and 0.43 GB, against 0.79 s and 0.55 GB for the merged catalogue's 1,000,000; docs/cluster.md).

    Parameters
    ----------
    flag_parts, cutflow_parts : sequence of path
        Each tile's flags and cut-flow tables (Parquet), in the same order.
    out, cutflow_out : path
        The flags and cut-flow tables to write (Parquet; a ``.csv`` copy of the cut flow beside it).

    Returns
    -------
    flags, cutflow : pandas.DataFrame
    """
    flag_parts, cutflow_parts = [Path(p) for p in flag_parts], [Path(p) for p in cutflow_parts]
    if not flag_parts or len(flag_parts) != len(cutflow_parts):
        raise InputError(f"expected one cut flow per flags table, got {len(flag_parts)} flags tables and "
                         f"{len(cutflow_parts)} cut flows")
    flags = merge_parts([read_table(p, required=["ID"]) for p in flag_parts], [str(p) for p in flag_parts])
    check_rows(flags, "ID", [], f"the flags of {len(flag_parts)} tiles ({flag_parts[0]}, ...)")
    steps = ["sample", "step", "cut"]
    first = read_table(cutflow_parts[0], required=[*steps, "n_remaining"])
    total = _counts(first, cutflow_parts[0])
    for path in cutflow_parts[1:]:
        part = read_table(path, required=[*steps, "n_remaining"])
        if not part[steps].reset_index(drop=True).equals(first[steps].reset_index(drop=True)):
            raise InputError(f"{path}: samples, steps and cuts differ from {cutflow_parts[0]}'s; expected tiles "
                             "preselected with the same release and cuts")
        total = total + _counts(part, path)
    cutflow = first[steps].assign(n_remaining=total).astype(CUTFLOW_DTYPES)
    write_flags_and_cutflow(flags, cutflow, out, cutflow_out)
    log.info("merged the flags of %d tiles (%d rows) -> %s and their cut flows -> %s", len(flag_parts), len(flags),
             out, cutflow_out)
    return flags, cutflow
