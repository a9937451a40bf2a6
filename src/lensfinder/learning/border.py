"""The border frame of a stamp, where the sky level and its noise are measured (pure numpy).

``sky`` normalisation (:mod:`lensfinder.learning.preprocessing`) and the
colour residual's PSF match (:mod:`lensfinder.learning.residual`) both read
the sky from the same frame, away from the central galaxy: the outer
``SKY_BORDER_FRACTION`` of each side, its noise as ``MAD_TO_SIGMA`` times
the median absolute deviation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SKY_BORDER_FRACTION", "MAD_TO_SIGMA", "border_mask"]

#: Width of the border whose pixels give the sky level and noise, as a fraction of the shorter side
SKY_BORDER_FRACTION = 0.1
#: Gaussian sigma = 1.4826 * MAD
MAD_TO_SIGMA = 1.4826


def border_mask(shape):
    """The border frame of an image of ``shape`` (ny, nx), ``SKY_BORDER_FRACTION`` of the shorter side wide
    (at least 1 pixel), as a boolean mask."""
    ny, nx = shape
    w = max(1, int(round(SKY_BORDER_FRACTION * min(ny, nx))))
    mask = np.ones((ny, nx), bool)
    mask[w:ny - w, w:nx - w] = False
    return mask
