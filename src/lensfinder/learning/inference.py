"""Scoring stamp cubes with trained networks (docs/learning.md).

One process may score many cubes (:func:`predict_shards`): the networks load,
and TensorFlow starts, once for all of them.

A cube is read in batches with positioned reads through a prefetching
``tf.data`` pipeline (memory constant in the number of stamps); each model
is applied with the preprocessing of its JSON sidecar, to the cube's bands
the model was trained on (a cube lacking one of them is refused, naming
both band lists). The output table has one row per index row:
``object_id, p_cnn, model, model_hash, shard`` (+ ``is_lens`` when the index has it).
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import numpy as np

from lensfinder.checks import require_cube_matches_index
from lensfinder.learning.datasets import CubeReader
from lensfinder.learning.forward import forward_function, lens_probabilities
from lensfinder.io import InputError, bool_column, read_table, select_bands, write_table
from lensfinder.constants import SCORING_PRECISIONS
from lensfinder.learning.modelfiles import computing_in, file_hash, lens_probability_column, load_model, logit_heads
from lensfinder.learning.preprocessing import prepare_batch, settings_bands
from lensfinder.learning.residual import settings_residual, settings_residual_match, stamp_psfs
from lensfinder.learning.sidecar import check_weights_hash, other_pixel_scale, read_settings
from lensfinder.learning.runtime import batch_pipeline, gpu_visible, numpy_map, precision_policy, set_threads

__all__ = ["DEFAULT_MAX_NAN_FRACTION", "DEFAULT_TTA", "TTA_MODES", "Scorer", "load_scorer", "score_cube", "predict_shard", "predict_shards",
           "infer_files"]

log = logging.getLogger(__name__)

#: Default largest fraction of NaN/inf pixels a stamp may have and still be scored.
DEFAULT_MAX_NAN_FRACTION = 0.05
#: Test-time augmentation: ``none``, or ``dihedral``: ``p_cnn`` is the mean over the eight rotations by
#: 90 degrees and flips of the preprocessed stamp (a lens is a lens in any orientation; docs/learning.md:
#: the binned half of bin2_crop is not centred on an odd stamp, so the stamp rotated first can differ)
TTA_MODES = ("none", "dihedral")
#: The test-time augmentation of every scoring entry point unless told otherwise: the workflow's
#: ``inference.tta`` default, so ``lensfinder infer --model MODEL.keras`` with no options scores a
#: network as the workflow does (dihedral adds 0.01-0.03 of AUROC to every network measured,
#: docs/experiments.md, for 8 forward passes per stamp).
DEFAULT_TTA = "dihedral"


class Scorer:
    """A model file with its stored settings and hash; the network loads on first use.

    Parameters
    ----------
    path : path
        ``MODEL.keras``; its settings are read from ``MODEL.json``.
    normalization, preprocess, input_size : optional
        Expected settings: a model trained otherwise raises :class:`InputError`.
    precision : {"float32", "mixed_bfloat16"}
        What the network computes in (:data:`SCORING_PRECISIONS`; the logits and ``p_cnn`` stay float32 and
        float64): ``mixed_bfloat16`` for CPUs with bfloat16 instructions (:func:`computing_in`).
    """

    def __init__(self, path, *, normalization=None, preprocess=None, input_size=None, precision: str = "float32"):
        if precision not in SCORING_PRECISIONS:
            raise InputError(f"precision: {precision!r}: expected one of {', '.join(SCORING_PRECISIONS)}")
        self.precision = precision
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: model file not found")
        self.settings = read_settings(self.path, normalization=normalization, preprocess=preprocess,
                                      input_size=input_size)
        self.name = self.path.stem
        self.hash = file_hash(self.path)
        check_weights_hash(self.settings, self.hash, self.path)
        self._model = None
        self._heads = None
        self._forward = {}
        self.lens_column = None
        self.from_logits = False

    @property
    def stamp_size(self) -> int:
        return int(self.settings["stamp_size"])

    @property
    def bands(self) -> tuple:
        """The bands the network takes, in channel order."""
        return settings_bands(self.settings)

    def check_bands(self, reader: CubeReader) -> None:
        """Refuse a cube that lacks one of the model's bands, naming both band lists."""
        missing = [b for b in self.bands if b not in reader.bands]
        if missing:
            raise InputError(f"{reader.path}: stamps in band(s) {','.join(reader.bands)}, but {self.path.name} was "
                             f"trained on {','.join(self.bands)} (missing: {','.join(missing)}); cut stamps in the "
                             "model's bands or train a model on the cube's")

    def check_pixel_scale(self, reader: CubeReader) -> None:
        """Warn when the cube's ``PIXSCALE`` differs by more than 1 % from the scale the network was
        trained at: its scores then describe lenses of another angular size (Einstein radii, arc widths)."""
        cube = reader.header.get("PIXSCALE")
        if other_pixel_scale(self.settings, cube):
            log.warning("%s: stamps of %.4g arcsec/pixel, but %s was trained at %.4g: its scores are for another "
                        "scale (cut stamps at the training scale, or train at the survey's)", reader.path,
                        float(cube), self.path.name, float(self.settings["pixel_scale_arcsec"]))

    @property
    def model(self):
        if self._model is None:
            # a network trained in mixed precision on a GPU computes in float32 on a CPU
            self._model = load_model(self.path, policy=precision_policy("auto", gpu_visible()))
            shape = tuple(self._model.input_shape[1:])
            if shape != tuple(self.settings["input_shape"]):
                raise InputError(f"{self.path}: the network takes {shape}, its settings say "
                                 f"{tuple(self.settings['input_shape'])}")
            self.lens_column = lens_probability_column(self._model, str(self.path))
        return self._model

    @property
    def heads(self) -> list:
        """The models the scores come from: the network cut before its softmax (each member of an ensemble
        file; :func:`~lensfinder.learning.modelfiles.logit_heads`), in the scorer's precision, or the network
        itself where it has no such head (:attr:`from_logits` says which)."""
        if self._heads is None:
            logits = logit_heads(self.model)
            heads = logits or [self.model]
            if self.precision != "float32":
                try:
                    heads = [computing_in(head, self.precision) for head in heads]
                except Exception as exc:  # a network of layers Keras cannot clone in another policy
                    raise InputError(f"{self.path}: cannot be scored in {self.precision} ({type(exc).__name__}: "
                                     f"{exc}); score it in float32") from exc
            self.from_logits, self._heads = logits is not None, heads
        return self._heads

    def forward(self, tta: str = DEFAULT_TTA):
        """The network as a ``tf.function`` of a batch (with ``tta``), traced once per scorer and mode: its
        outputs for each view (:func:`~lensfinder.learning.forward.forward_function`), read by
        :func:`~lensfinder.learning.forward.lens_probabilities`."""
        if tta not in self._forward:
            import tensorflow as tf

            self._forward[tta] = forward_function(self.heads, tta, tf)
        return self._forward[tta]

    def probabilities(self, outputs):
        """Lens probabilities (float64) of :meth:`forward`'s outputs (:func:`~lensfinder.learning.forward.lens_probabilities`)."""
        return lens_probabilities(outputs, self.lens_column, self.from_logits)

    def prepare(self, stamps, bands=None, psf=None):
        """Counts ``(n, ny, nx)`` or ``(n, n_bands, ny, nx)`` in ``bands`` (default the model's) -> network input.

        Returns ``(x, nonfinite_fraction)``; the model's bands are picked from ``bands`` first. ``psf``: the
        stamps' Moffat fits for the colour residual (:meth:`stamp_psfs`).
        """
        stamps = select_bands(stamps, bands or self.bands, self.bands, str(self.path))
        return prepare_batch(stamps, self.settings, psf=psf)

    def stamp_psfs(self, index):
        """The rows' Moffat fits of the network's colour-residual bands (:func:`lensfinder.learning.residual.stamp_psfs`),
        for a network that matches the residual's PSFs; None otherwise or where the table has none."""
        if settings_residual_match(self.settings) != "psf":
            return None
        return stamp_psfs(index, settings_residual(self.settings))


def load_scorer(path, **expected) -> Scorer:
    """:class:`Scorer` for one model file (see its parameters)."""
    return Scorer(path, **expected)


def score_cube(reader: CubeReader, scorer: Scorer, batch_size: int = 256, threads: int | None = None,
               tta: str = DEFAULT_TTA, psf=None):
    """Probabilities of the lens class for every stamp of a cube, streamed.

    Parameters
    ----------
    reader : CubeReader
    scorer : Scorer
    batch_size : int
        Stamps per batch.
    threads : int, optional
        Threads of the input pipeline.
    tta : {"none", "dihedral"}
        Test-time augmentation (:data:`TTA_MODES`; default :data:`DEFAULT_TTA`); ``dihedral``
        costs eight forward passes.
    psf : tuple, optional
        The stamps' Moffat fits for the colour residual's match, one row per stamp (:meth:`Scorer.stamp_psfs`).

    Returns
    -------
    p_cnn : numpy.ndarray, float64, shape (n,)
    nonfinite_fraction : numpy.ndarray, float64, shape (n,)
    """
    if reader.shape != (scorer.stamp_size, scorer.stamp_size):
        raise InputError(f"{reader.path}: stamps of {reader.shape[0]}x{reader.shape[1]} pixels, but "
                         f"{scorer.path.name} was trained on {scorer.stamp_size}x{scorer.stamp_size}")
    scorer.check_bands(reader)
    scorer.check_pixel_scale(reader)
    if tta not in TTA_MODES:
        raise InputError(f"tta: {tta!r}: expected one of {', '.join(TTA_MODES)}")
    n = reader.n
    p_cnn = np.full(n, np.nan)
    fraction = np.zeros(n)
    if n == 0:
        return p_cnn, fraction
    set_threads(threads)
    import tensorflow as tf

    from lensfinder.progress import progress

    shape = [None, *(int(v) for v in scorer.settings["input_shape"])]
    n_batches = math.ceil(n / batch_size)
    if reader.bands != scorer.bands:
        log.info("%s: bands %s; %s takes %s", reader.path, ",".join(reader.bands), scorer.path.name,
                 ",".join(scorer.bands))

    def load(batch):
        start = int(batch) * batch_size
        rows = None if psf is None else (psf[0][start:start + batch_size], psf[1])
        x, frac = scorer.prepare(reader.read(start, start + batch_size), reader.bands, psf=rows)
        fraction[start:start + len(frac)] = frac
        return x.astype(np.float32)

    load_x = numpy_map(load, (tf.float32,), (shape,))
    dataset = batch_pipeline(range(n_batches), lambda batch: (batch, *load_x(batch)), threads, 2)
    forward = scorer.forward(tta)
    for batch, x in progress(dataset, total=n_batches, desc=f"score {reader.path.name}", unit="batch"):
        start = int(batch) * batch_size
        probs = scorer.probabilities(forward(x))
        p_cnn[start:start + len(probs)] = probs
    return p_cnn, fraction


def predict_shard(cube_path, index_path, model_paths, batch_size: int = 256,
                  max_nan_fraction: float = DEFAULT_MAX_NAN_FRACTION, threads: int | None = None,
                  normalization=None, preprocess=None, tta: str = DEFAULT_TTA, precision: str = "float32"):
    """Score one cube with one model or the mean of an ensemble.

    Parameters
    ----------
    cube_path, index_path : path
        The stamp cube and its index (row ``k`` of the cube is row ``k``
        of the index; ``object_id`` required).
    model_paths : sequence of path
        ``.keras`` files; more than one averages their ``p_cnn``.
    batch_size : int
    max_nan_fraction : float
        Stamps with more NaN/inf pixels than this get ``p_cnn = NaN``.
    threads : int, optional
    normalization, preprocess : str, optional
        Expected settings of every model (checked against the sidecars).
    tta : {"none", "dihedral"}
        Test-time augmentation of every model (:func:`score_cube`; default :data:`DEFAULT_TTA`).
    precision : {"float32", "mixed_bfloat16"}
        What every network computes in (:class:`Scorer`).

    Returns
    -------
    pandas.DataFrame
        ``object_id, p_cnn, model, model_hash, shard`` (+ ``is_lens``); docs/learning.md.
    """
    scorers = _scorers(model_paths, normalization, preprocess, precision)
    return _score_table(cube_path, index_path, scorers, batch_size, max_nan_fraction, threads, tta)


def predict_shards(cube_paths, index_paths, model_paths, **options):
    """:func:`predict_shard` of many cubes with networks loaded once; yields ``(cube_path, table)`` in order.

    ``options`` as :func:`predict_shard`'s. Before the first cube is scored,
    every cube must have its index, both files must exist, and the cubes'
    names must differ (the ``shard`` column tells their rows apart).
    """
    cube_paths, index_paths = [Path(p) for p in cube_paths], [Path(p) for p in index_paths]
    if len(cube_paths) != len(index_paths):
        raise InputError(f"{len(cube_paths)} stamp cubes but {len(index_paths)} indexes; expected one index per "
                         "cube, in the same order")
    seen = {}
    for cube in cube_paths:
        if cube.stem in seen:
            raise InputError(f"{cube}: its name {cube.stem!r} is also {seen[cube.stem]}'s; the cubes scored "
                             "together need distinct names (the shard column)")
        seen[cube.stem] = cube
    for path in (*cube_paths, *index_paths):
        if not path.is_file():
            raise InputError(f"{path}: file not found")
    scorers = _scorers(model_paths, options.pop("normalization", None), options.pop("preprocess", None),
                       options.pop("precision", "float32"))
    for cube, index in zip(cube_paths, index_paths):
        yield cube, _score_table(cube, index, scorers, **options)


def _scorers(model_paths, normalization, preprocess, precision: str = "float32") -> list:
    scorers = [Scorer(p, normalization=normalization, preprocess=preprocess, precision=precision) for p in model_paths]
    if not scorers:
        raise InputError("no model given")
    return scorers


def _score_table(cube_path, index_path, scorers, batch_size: int = 256,
                 max_nan_fraction: float = DEFAULT_MAX_NAN_FRACTION, threads: int | None = None,
                 tta: str = DEFAULT_TTA):
    import pandas as pd

    cube_path, index_path = Path(cube_path), Path(index_path)
    index = read_table(index_path, required=["object_id"])
    reader = CubeReader(cube_path)
    # its rows and, where the cube has TILE and the index tile, its tile: another tile's cube is refused
    require_cube_matches_index(cube_path, reader.header, reader.n, index, index_path,
                               cube_label=f"the cube {cube_path.name}")
    duplicated = index["object_id"].duplicated()
    if duplicated.any():
        raise InputError(f"{index_path}: object_id: {int(duplicated.sum())} duplicated values, "
                         f"e.g. {index['object_id'][duplicated].iloc[0]!r}")
    p_members, fraction = [], np.zeros(reader.n)
    for scorer in scorers:
        p, member_fraction = score_cube(reader, scorer, batch_size, threads, tta, psf=scorer.stamp_psfs(index))
        p_members.append(p)
        # members may read different bands: a stamp is filled or skipped by the worst of what they read,
        # whatever their order
        fraction = np.maximum(fraction, member_fraction)
    reader.close()
    p_cnn = np.mean(p_members, axis=0) if reader.n else np.zeros(0)
    filled = (fraction > 0) & (fraction <= max_nan_fraction)
    skipped = fraction > max_nan_fraction
    if filled.any():
        log.warning("%s: %d stamps had NaN/inf pixels (at most %.3g of the stamp), set to 0 and scored",
                    cube_path, int(filled.sum()), max_nan_fraction)
    if skipped.any():
        log.warning("%s: %d stamps skipped (p_cnn = NaN): more than %.3g of their pixels NaN/inf",
                    cube_path, int(skipped.sum()), max_nan_fraction)
        p_cnn = np.where(skipped, np.nan, p_cnn)
    if len(scorers) == 1:
        name, model_hash = scorers[0].name, scorers[0].hash
    else:
        name = "+".join(s.name for s in scorers)
        model_hash = hashlib.sha256("".join(s.hash for s in scorers).encode()).hexdigest()[:16]
    table = pd.DataFrame({
        "object_id": index["object_id"].astype(str).to_numpy(),
        "p_cnn": np.asarray(p_cnn, dtype=np.float64),
        "model": pd.Series([name] * len(index), dtype=object),
        "model_hash": pd.Series([model_hash] * len(index), dtype=object),
        "shard": pd.Series([cube_path.stem] * len(index), dtype=object),
    })
    if "is_lens" in index.columns:  # a missing label is refused, not made a class (NaN was True, None False)
        table["is_lens"] = bool_column(index["is_lens"].to_numpy(), str(index_path), "is_lens")
    log.info("%s: scored %d stamps with %s (%d skipped; test-time augmentation: %s)", cube_path, reader.n, name,
             int(skipped.sum()), tta)
    return table


def infer_files(cube_paths, index_paths, model_paths, out, **options):
    """Score one cube, or several in one table, and write it to ``out``.

    ``cube_paths`` and ``index_paths`` are a path each or sequences of
    paths in the same order (:func:`predict_shards`, same ``options``); the
    table holds every cube's rows in that order, its ``shard`` column
    naming each row's cube.

    Returns
    -------
    pandas.DataFrame
        The table written.
    """
    import pandas as pd

    if isinstance(cube_paths, (str, Path)):
        cube_paths = [cube_paths]
    if isinstance(index_paths, (str, Path)):
        index_paths = [index_paths]
    tables = [table for _, table in predict_shards(cube_paths, index_paths, model_paths, **options)]
    table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
    write_table(table, out)
    return table
