"""One figure style for every plot: the Agg backend and atomic PNG writes."""

from __future__ import annotations

from pathlib import Path

from lensfinder.io import atomic_path

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 110, bbox_inches: str | None = "tight", **savefig_kwargs) -> Path:
    """Write a figure atomically (format from the suffix, PNG without one) and close it; ``savefig_kwargs``
    go to ``Figure.savefig`` (e.g. ``pil_kwargs``)."""
    plt = pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi, bbox_inches=bbox_inches,
                        **savefig_kwargs)
    finally:
        plt.close(fig)
    return Path(path)
