"""The scorer's forward pass (lensfinder.learning.inference): the views of a batch that test-time
augmentation scores, the networks' outputs for each view stacked in one ``tf.function``, and the
lens probabilities in float64 from those outputs.

TensorFlow is passed in (``tf``), not imported here: the module loads without it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rot90", "views", "forward_function", "lens_probabilities"]


def rot90(tf, images, k: int):
    """``tf.image.rot90(images, k)`` of a batch ``(n, ny, nx, c)`` for a Python ``k``: transposes and reversals.

    The same pixels as ``tf.image.rot90`` (a test compares them), without the four-way
    ``tf.case`` it builds for every call: a scorer's graph traces in half the time, and
    scores the same bits (``benchmarks/scorer_start.py``).
    """
    k %= 4
    if k == 1:
        return tf.transpose(tf.reverse(images, axis=[2]), [0, 2, 1, 3])
    if k == 2:
        return tf.reverse(images, axis=[1, 2])
    if k == 3:
        return tf.reverse(tf.transpose(images, [0, 2, 1, 3]), axis=[2])
    return images


def views(tf, x, tta: str) -> list:
    """The batch as the network sees it: itself, or its eight rotations by 90 degrees and flips."""
    if tta != "dihedral":
        return [x]
    return [rot90(tf, tf.reverse(x, axis=[2]) if flip else x, k) for flip in (False, True) for k in range(4)]


def forward_function(heads, tta: str, tf):
    """The networks as one ``tf.function`` of a batch: every head's output for every view of ``tta``,
    stacked to ``(n, n_heads * n_views, n_outputs)``.

    Its loops are over Python constants, so it is traced without AutoGraph.
    """

    def forward(x):
        return tf.stack([head(view, training=False) for head in heads for view in views(tf, x, tta)], axis=1)

    return tf.function(forward, reduce_retracing=True, autograph=False)


def lens_probabilities(outputs, lens_column: int, from_logits: bool):
    """Lens probabilities ``(n,)`` in float64 from :func:`forward_function`'s ``(n, k, c)`` outputs.

    ``from_logits``: the outputs are two logits, and each view's probability is
    the logistic function of the lens logit minus the other, in float64, so that
    scores keep their order up to a difference of about 37 (a float32 softmax
    rounds every difference above about 17 to exactly 1.0). Otherwise the
    outputs are probabilities (column ``lens_column``). The mean over the ``k``
    views and networks, as the dihedral average and an ensemble file's
    ``Average`` compute it.
    """
    from scipy.special import expit

    out = np.asarray(outputs, dtype=np.float64)
    if from_logits:
        return expit(out[..., lens_column] - out[..., 1 - lens_column]).mean(axis=1)
    return out[..., lens_column].mean(axis=1)
