"""The default run's network input, derived from lensfinder's own defaults, for the benchmark scripts.

The scripts that time "the default network" (onednn.py, roofline.py, scorer_start.py, precision.py and
gpu.py's ``default`` cases) build it at the input ``lensfinder train`` builds for the default
settings: :class:`lensfinder.learning.config.TrainConfig`'s defaults (``preprocess: bin2_crop``,
``colour_residual: auto``) on the default run's bands, the colour residual resolved as
:class:`lensfinder.learning.stream.TrainingStream` resolves it. Today that is he2020 on 49x49x8: g, r,
i and the g-r residual, each binned 2x2 and cut at full resolution. Imports lensfinder only when
called (benchmarks/gpu.py runs where only Keras and numpy are installed besides ``src``).
"""

from __future__ import annotations

#: The default run's bands: config/config.yaml's ``bands: null`` is the survey's, the mock KiDS
#: preset's g, r, i (``lensfinder.surveys.presets.kids``).
DEFAULT_BANDS = ("g", "r", "i")


def input_shape(config, bands=DEFAULT_BANDS) -> tuple[int, int, int]:
    """``(size, size, channels)`` of the network input that training builds for ``config`` on ``bands``."""
    from lensfinder.learning.preprocessing import input_channels, resolve_colour_residual

    size = config.resolved_input_size
    residual = resolve_colour_residual(config.colour_residual, tuple(bands))
    return size, size, input_channels(len(bands), config.preprocess, residual)


def describe(config, bands=DEFAULT_BANDS) -> str:
    """``49x49x8 (bin2_crop of g, r, i + the g-r residual)``: the input of :func:`input_shape`, in words."""
    from lensfinder.learning.preprocessing import resolve_colour_residual

    residual = resolve_colour_residual(config.colour_residual, tuple(bands))
    extra = f" + the {'-'.join(residual)} residual" if residual else ""
    return f"{'x'.join(map(str, input_shape(config, bands)))} ({config.preprocess} of {', '.join(bands)}{extra})"
