"""Progress bars that stay quiet when stderr is not a terminal."""

from __future__ import annotations

import sys

__all__ = ["progress"]


def progress(iterable=None, **kwargs):
    """``tqdm`` with ``disable`` set when stderr is not a TTY (Snakemake logs, CI)."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not sys.stderr.isatty())
    kwargs.setdefault("mininterval", 1.0)
    return tqdm(iterable, **kwargs)
