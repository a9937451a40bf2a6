"""Model files: atomic ``.keras`` saving, loading with errors that name the file, the weights
hash that identifies a trained network (the ``model_hash`` column), and which output column of a
loaded network holds the lens probability.

The networks themselves are built and compiled in :mod:`lensfinder.learning.models`; Keras is
imported inside the functions.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lensfinder.io import InputError, atomic_path
from lensfinder.learning.models import import_keras

__all__ = ["save_model", "load_model", "in_policy", "computing_in", "file_hash", "lens_probability_column",
           "logit_heads"]

#: The layers our networks keep in float32 under every policy: the two logits, the softmax, and an
#: ensemble file's mean (lensfinder.learning.models, lensfinder.learning.training).
_FLOAT32_HEAD = ("logits", "p", "p_mean")


def save_model(model, path: str | os.PathLike) -> Path:
    """Save a model as ``.keras`` atomically (:func:`lensfinder.io.atomic_path`).

    Keras insists on the ``.keras`` suffix, so the temporary file beside
    ``path`` ends in ``.keras`` too.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a model file must end in .keras")
    with atomic_path(path, suffix=".part.keras") as tmp:
        model.save(tmp, overwrite=True)
    return path


def load_model(path: str | os.PathLike, compile: bool = False, policy: str | None = None):
    """Load a ``.keras`` model; a missing or unreadable file raises ``InputError``.

    A network keeps the precision policy it was trained in: one trained in mixed
    precision on a GPU would compute in float16 on a CPU too, which is slower
    there than float32. With ``policy`` (a Keras policy name, e.g. the machine's
    :func:`lensfinder.learning.runtime.precision_policy`), its mixed-precision
    layers are rebuilt in that policy with the same weights; float32 layers (the
    output layer always) stay float32.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: model file not found")
    keras = import_keras()
    try:
        model = keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # zip, JSON and deserialisation errors all mean "not our model"
        raise InputError(f"{path}: cannot load as a Keras model ({type(exc).__name__}: {exc})") from exc
    return in_policy(model, policy) if policy else model


def in_policy(model, policy: str):
    """``model`` with its mixed-precision layers in ``policy`` (the same model when none differ).

    Layers whose policy is ``float32`` keep it; the others (``mixed_float16``,
    ``mixed_bfloat16``) take ``policy``, and the weights are copied over.
    """
    keras = import_keras()

    def moved(layer) -> bool:
        return layer.dtype_policy.name not in ("float32", policy)

    if not any(moved(layer) for layer in model.layers):
        return model

    def clone(layer):
        config = layer.get_config()
        if moved(layer):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)  # the input layer's too
    try:
        twin = keras.models.clone_model(model, clone_function=clone)
    finally:
        keras.mixed_precision.set_global_policy(before)
    twin.set_weights(model.get_weights())
    return twin


def computing_in(model, policy: str):
    """``model`` with every layer but its float32 head computing in ``policy``, with the same weights.

    For scoring on a CPU with bfloat16 instructions (AVX-512 BF16, AMX), where
    ``mixed_bfloat16`` scores the default network about 4 times as fast as
    float32 (docs/performance.md): the convolutions and dense layers compute in
    bfloat16, the two logits, the softmax and an ensemble's mean stay float32
    (the float64 ``p_cnn`` is computed from those logits). One network: the
    scorer applies it to each of :func:`logit_heads`'s models (an ensemble
    file's members one by one).
    """
    keras = import_keras()

    def clone(layer):
        config = layer.get_config()
        if layer.name not in _FLOAT32_HEAD and "dtype" in config:
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    """First ``length`` hex digits of the SHA-256 of a trained network (the ``model_hash`` column).

    For a ``.keras`` archive only its weights member is hashed: the archive
    also holds a save time and Python object ids, so two identical trainings
    would otherwise get different hashes. Any other file is hashed whole.

    Raises
    ------
    lensfinder.io.InputError
        A missing file, or a ``.keras`` file that is not a readable zip archive.
    """
    import zipfile
    import zlib

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: model file not found")
    digest = hashlib.sha256()
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith(".weights.h5")]
                if names:
                    with archive.open(names[0]) as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            digest.update(chunk)
                    return digest.hexdigest()[:length]
        elif path.suffix == ".keras":
            raise zipfile.BadZipFile("not a zip archive")
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"{path}: corrupt .keras archive ({exc}); expected the zip file written by "
                         "`lensfinder train`") from exc
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def lens_probability_column(model, source: str = "model") -> int:
    """Column of the network's output that holds the lens probability.

    Accepted heads: a 2-way softmax (column 1 is the lens class, as our
    networks are trained) or a single sigmoid unit (column 0), or the mean
    (an ``Average`` layer) of networks that all have the same such head: an
    ensemble in one file. Anything else (more classes, logits, several
    outputs) cannot be read as p_CNN.

    Parameters
    ----------
    model : keras.Model
    source : str
        The model file, named in the error.

    Raises
    ------
    lensfinder.io.InputError
        Naming the last layer, its activation and its number of units.
    """
    expected = "expected a 2-way softmax or a 1-unit sigmoid giving the lens probability"
    outputs = model.outputs if isinstance(model.outputs, (list, tuple)) else [model.outputs]
    if len(outputs) != 1:
        raise InputError(f"{source}: the network has {len(outputs)} outputs; {expected}")
    shape = tuple(outputs[0].shape)
    layer = model.layers[-1]
    if type(layer).__name__ == "Average":  # an ensemble in one file: the mean of its networks' heads
        members = [sub for sub in model.layers if hasattr(sub, "layers")]
        columns = {lens_probability_column(sub, source) for sub in members}
        if members and len(columns) == 1:
            return columns.pop()
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) or type(layer).__name__.lower()
    units = shape[-1] if len(shape) == 2 else None
    if (name, units) in (("softmax", 2), ("sigmoid", 1)):
        return 1 if units == 2 else 0
    raise InputError(f"{source}: the last layer {layer.name!r} ({type(layer).__name__}) has activation "
                     f"{name!r} and output shape {shape}; {expected}")


def logit_heads(model):
    """The network cut before its 2-way softmax: one model per network, or None where a head is not one.

    ``lens_probability_column`` accepts the heads; this finds the logits behind
    them, so that the lens probability can be computed from the difference of
    the two logits in float64 (:mod:`lensfinder.learning.inference`): a float32
    softmax says exactly 1.0 for every stamp whose logits differ by more than
    about 17, and such stamps tie. Our networks end in a ``Dense`` of two
    logits and an ``Activation("softmax")``: the model to that Dense's output.
    An ensemble in one file (an ``Average`` of such networks) gives one model
    per member, whose probabilities the file averages (when the members take
    the file's input as it is). A sigmoid unit, a softmax fused into its
    Dense, or anything else gives None: its scores stay the float32 output's.
    """
    keras = import_keras()
    layer = model.layers[-1]
    if type(layer).__name__ == "Average":
        members = [sub for sub in model.layers if hasattr(sub, "layers")]
        others = [sub for sub in model.layers if sub not in members and sub is not layer]
        if not members or any(type(sub).__name__ != "InputLayer" for sub in others):
            return None  # members fed by other layers than the input: read the file's own output
        heads = [logit_heads(sub) for sub in members]
        if any(h is None or len(h) != 1 for h in heads):
            return None
        return [h[0] for h in heads]
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if type(layer).__name__ != "Activation" or activation != "softmax" or tuple(layer.output.shape)[-1] != 2:
        return None
    return [keras.Model(model.inputs, layer.input, name=f"{model.name}_logits")]
