"""Figures of the ranked candidate list: p_CNN against p_hum, inspector scores, best stamps."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lensfinder.inspection.catalogue import round_down
from lensfinder.plots.stamps import stamp_composite, write_mosaic
from lensfinder.plots.style import pyplot, save_figure

__all__ = ["plot_pcnn_vs_phuman", "plot_score_histogram", "plot_ranked_mosaic"]

log = logging.getLogger(__name__)


def _save(fig, path) -> Path:
    return save_figure(fig, path, dpi=150, bbox_inches=None)


def plot_pcnn_vs_phuman(ranked_df, path, *, golden: float = 0.7, high: float = 0.5) -> Path:
    """p_CNN against p_human (Li et al. 2020, Fig. 5), written atomically.

    Blue plus signs mark candidates with at least one A (score 10), red plus
    signs those with at least one D (score 0); dashed curves are P = ``high``
    and P = ``golden``. ``ranked_df`` is a li2020 ranked list.
    """
    plt = pyplot()
    df = ranked_df[ranked_df["n_graders"] > 0] if len(ranked_df) else ranked_df
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(df["p_human"], df["p_cnn"], s=12, c="0.4", label=f"graded candidates: {len(df)}")
    top, zero = df[df["n_top"] > 0], df[df["n_zero"] > 0]
    # D marks first, A marks larger on top, so a point with both shows both
    ax.scatter(zero["p_human"], zero["p_cnn"], marker="+", s=35, c="tab:red",
               label=f"graded D, score 0, by >= 1 inspector: {len(zero)}")
    ax.scatter(top["p_human"], top["p_cnn"], marker="+", s=110, linewidths=0.9, c="tab:blue",
               label=f"graded A, score 10, by >= 1 inspector: {len(top)}")
    x = np.linspace(0.01, 1, 200)
    for level in (high, golden):
        ax.plot(x, np.where(level / x <= 1.0, level / x, np.nan), "--", lw=0.8, c="0.6")
        ax.text(level + 0.01, 0.995, f"P={level:g}", fontsize=7, color="0.4", va="top")
    ax.set_xlim(-0.02, 1.02)
    ymin = float(np.nanmin(df["p_cnn"])) if len(df) else 0.0
    ax.set_ylim(min(ymin, 0.7) - 0.02, 1.01)
    ax.set_xlabel(r"$p_\mathrm{hum}$")
    ax.set_ylabel(r"$p_\mathrm{CNN}$")
    if not len(df):
        ax.text(0.5, 0.85, "no graded candidates", ha="center", transform=ax.transAxes)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _save(fig, path)


def plot_score_histogram(ranked_df, path, *, scheme: str = "he2020", min_score: float = 3) -> Path:
    """Distribution of inspector scores (He et al. 2020, Fig. 6), written atomically.

    he2020: summed scores of candidates with ``score_sum >= min_score`` (He et
    al. show those with 3 or more); li2020: the mean score s_ave of all graded
    candidates.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if scheme == "he2020":
        values = ranked_df.loc[ranked_df["score_sum"] >= min_score, "score_sum"].to_numpy(dtype=float)
        top = int(np.nanmax(values)) if len(values) else int(min_score) + 1
        ax.hist(values, bins=np.arange(min_score - 0.5, top + 1.5, 1.0), color="tab:blue", edgecolor="k")
        ax.set_xlabel(f"summed score (>= {min_score:g})")
    else:
        values = ranked_df["score_mean"].dropna().to_numpy(dtype=float)
        ax.hist(values, bins=np.linspace(0, 10, 21), color="tab:blue", edgecolor="k")
        ax.set_xlabel(r"$s_\mathrm{ave}$")
    ax.set_ylabel("number of candidates")
    if not len(values):
        ax.text(0.5, 0.5, "no candidates", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return _save(fig, path)


def plot_ranked_mosaic(ranked_df, path, *, base_dir=None, manifest=None, stamps: dict | None = None,
                       bands=None, max_n: int = 82, ncols: int = 10, scheme: str = "li2020") -> Path:
    """Stamps of the best candidates ranked by P (Li et al. 2020, Fig. 8), written atomically.

    Images come from ``stamps`` (``{object_id: array}``, ``(ny, nx)`` or
    ``(n_bands, ny, nx)`` in ``bands`` order, drawn as Lupton composites;
    e.g. from :func:`lensfinder.inspection.candidates.load_band_stamps`) where given, else from the PNG
    paths in ``ranked_df['png']`` or, where empty, ``manifest`` (``object_id,
    png``); relative paths are taken from ``base_dir``. Candidates without an
    image are skipped (logged). Rows are drawn in ``ranked_df`` order.
    """
    base = Path(base_dir) if base_dir is not None else Path(".")
    pngs = ranked_df["png"].astype(str) if "png" in ranked_df.columns else ranked_df["object_id"].map(lambda _: "")
    if manifest is not None:
        lookup = manifest.drop_duplicates("object_id").set_index("object_id")["png"].astype(str)
        pngs = pngs.where(pngs != "", ranked_df["object_id"].map(lookup).fillna(""))
    paths, labels = [], []
    for row, png in zip(ranked_df.itertuples(index=False), pngs):
        if len(paths) >= max_n:
            break
        if stamps is not None and row.object_id in stamps:
            image = np.asarray(stamps[row.object_id])
            paths.append(stamp_composite(image, bands) if image.ndim == 3 and len(image) > 1 else image.squeeze())
        elif not png:
            continue
        else:
            p = Path(png) if Path(png).is_absolute() else base / png
            if not p.exists():
                log.warning("%s: stamp PNG not found for %s; left out of the mosaic", p, row.object_id)
                continue
            paths.append(p)
        # P rounded down, as the tables show it: 0.69965 reads 0.69, under the golden cut it is under
        label = (f"{int(row.rank)}  P={float(round_down(row.P, 2)):.2f}" if scheme == "li2020"
                 else f"{int(row.rank)}  s={row.score_sum:.0f}")
        labels.append(label)
    return write_mosaic(paths, labels, path, ncols=ncols, title="candidates ranked by "
                        + ("P = p_CNN x p_hum" if scheme == "li2020" else "summed score"))
