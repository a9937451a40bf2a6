"""The two papers' networks as Keras 3 functional models, and saving/loading model files.

``he2020``: He et al. 2020, section 2 (2,101,372 parameters); ``resnet18``:
the keras-resnet design used by Li et al. 2020, section 2.2. Architectures
and parameter counts: docs/learning.md. Keras is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from lensfinder.constants import HE2020_INPUT_SIZE, HE2020_N_PARAMETERS, LI2020_STAMP_SIZE

__all__ = [
    "MODEL_NAMES",
    "DEFAULT_INPUT_SIZE",
    "RESNET18_N_PARAMETERS",
    "build_model",
    "he2020",
    "resnet18",
    "resnet18_n_parameters",
    "expected_n_parameters",
    "save_model",
    "load_model",
    "file_hash",
    "import_keras",
]

#: Network names accepted by :func:`build_model`.
MODEL_NAMES = ("he2020", "resnet18")
#: Default input size (pixels) per network: He et al. 2020, section 2 (49);
#: Li et al. 2020, section 2.1 (101x101 cutouts).
DEFAULT_INPUT_SIZE = {"he2020": HE2020_INPUT_SIZE, "resnet18": LI2020_STAMP_SIZE}
#: ResNet-18 (keras-resnet design) with a 2-way softmax: parameters for 1 and
#: 3 input bands, derived in docs/learning.md.
RESNET18_N_PARAMETERS = {1: 11_182_082, 3: 11_188_354}

_RESNET_WEIGHT_DECAY = 1e-4  # keras-resnet: l2(1.e-4) on every convolution
_RESNET_STAGE_FILTERS = (64, 128, 256, 512)
_RESNET18_REPETITIONS = (2, 2, 2, 2)


def import_keras():
    """Import Keras (TensorFlow backend) with TensorFlow's C++ logging quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def _output_head(keras, x, n_classes: int, kernel_initializer="glorot_uniform"):
    # float32 whatever the global policy: float16 cannot hold 0.999999.
    logits = keras.layers.Dense(n_classes, kernel_initializer=kernel_initializer, name="logits", dtype="float32")(x)
    return keras.layers.Activation("softmax", name="p", dtype="float32")(logits)


def he2020(input_shape=(HE2020_INPUT_SIZE, HE2020_INPUT_SIZE, 1), n_classes: int = 2):
    """He et al. 2020 (section 2) network: 2 convolutions + 3 fully connected layers.

    Parameters
    ----------
    input_shape : tuple of int
        ``(ny, nx, bands)`` in pixels; the paper's is ``(49, 49, 1)``, which
        gives exactly ``constants.HE2020_N_PARAMETERS`` parameters.
    n_classes : int
        Output classes (2: non-lens, lens).

    Returns
    -------
    keras.Model
        Functional model mapping images to class probabilities.
    """
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(20, 5, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="pool1")(x)
    x = layers.Conv2D(50, 5, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(500, activation="relu", name="fc1")(x)
    x = layers.Dense(100, activation="relu", name="fc2")(x)
    outputs = _output_head(keras, x, n_classes)
    return keras.Model(inputs, outputs, name="he2020")


def _conv(keras, filters, kernel, strides, name, padding="same"):
    return keras.layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(_RESNET_WEIGHT_DECAY), name=name,
    )


def _bn_relu(keras, x, name):
    x = keras.layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _basic_block(keras, x, filters, strides, first_of_network, name):
    if first_of_network:
        # The stem already ended in BN -> ReLU -> max pool.
        y = _conv(keras, filters, 3, strides, f"{name}_conv1")(x)
    else:
        y = _conv(keras, filters, 3, strides, f"{name}_conv1")(_bn_relu(keras, x, f"{name}_pre1"))
    y = _conv(keras, filters, 3, 1, f"{name}_conv2")(_bn_relu(keras, y, f"{name}_pre2"))
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv(keras, filters, 1, strides, f"{name}_shortcut", padding="valid")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def resnet18(input_shape=(LI2020_STAMP_SIZE, LI2020_STAMP_SIZE, 1), n_classes: int = 2):
    """ResNet-18 in the keras-resnet design used by Li et al. 2020.

    Parameters
    ----------
    input_shape : tuple of int
        ``(ny, nx, bands)``; Li et al. use 101x101 r-band cutouts (1 band);
        3 bands are supported by the network (not yet by our shards).
    n_classes : int
        Output classes (2: non-lens, lens).

    Returns
    -------
    keras.Model
        Functional model; ``RESNET18_N_PARAMETERS[bands]`` parameters.
    """
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv(keras, 64, 7, 2, "stem_conv")(inputs)
    x = _bn_relu(keras, x, "stem")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (filters, repetitions) in enumerate(zip(_RESNET_STAGE_FILTERS, _RESNET18_REPETITIONS)):
        for i in range(repetitions):
            strides = 2 if (i == 0 and stage > 0) else 1
            x = _basic_block(keras, x, filters, strides, stage == 0 and i == 0, f"stage{stage + 1}_block{i + 1}")
    x = _bn_relu(keras, x, "final")
    x = layers.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]), strides=1, name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = _output_head(keras, x, n_classes, kernel_initializer="he_normal")
    return keras.Model(inputs, outputs, name="resnet18")


def resnet18_n_parameters(bands: int = 1, n_classes: int = 2) -> int:
    """Parameter count of :func:`resnet18`, summed from the design (no Keras).

    Parameters
    ----------
    bands : int
        Input channels.
    n_classes : int
        Output classes.

    Returns
    -------
    int
        Trainable plus non-trainable (batch-norm statistics) parameters.
    """
    def conv(k, c_in, c_out):
        return k * k * c_in * c_out + c_out

    def bn(c):
        return 4 * c

    total = conv(7, bands, 64) + bn(64)
    c_in = 64
    for stage, (filters, repetitions) in enumerate(zip(_RESNET_STAGE_FILTERS, _RESNET18_REPETITIONS)):
        for i in range(repetitions):
            first_of_network = stage == 0 and i == 0
            total += (0 if first_of_network else bn(c_in)) + conv(3, c_in, filters)
            total += bn(filters) + conv(3, filters, filters)
            if c_in != filters or (i == 0 and stage > 0):
                total += conv(1, c_in, filters)
            c_in = filters
    return total + bn(c_in) + c_in * n_classes + n_classes


def expected_n_parameters(name: str, input_shape) -> int | None:
    """The documented parameter count of a network, or None where none is fixed.

    ``he2020`` has its paper count only for the paper's 49x49x1 input.
    """
    if name == "he2020":
        return HE2020_N_PARAMETERS if tuple(input_shape) == (HE2020_INPUT_SIZE, HE2020_INPUT_SIZE, 1) else None
    if name == "resnet18":
        return resnet18_n_parameters(int(input_shape[-1]))
    return None


_BUILDERS = {"he2020": he2020, "resnet18": resnet18}


def build_model(name: str, input_shape=None):
    """Build a network by name.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    input_shape : tuple of int, optional
        ``(ny, nx, bands)``; default ``(DEFAULT_INPUT_SIZE[name],) * 2 + (1,)``.

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        For an unknown name or an input too small for the network.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    if input_shape is None:
        size = DEFAULT_INPUT_SIZE[name]
        input_shape = (size, size, 1)
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"{name}: input_shape must be (ny, nx, bands), got {input_shape}")
    if name == "he2020" and min(input_shape[:2]) < 16:
        raise ValueError(f"he2020: input {input_shape} too small for two 5x5 convolutions and poolings")
    return _BUILDERS[name](input_shape)


def save_model(model, path: str | os.PathLike) -> Path:
    """Save a model as ``.keras`` atomically.

    Keras insists on the ``.keras`` suffix, so the temporary file beside
    ``path`` ends in ``.keras`` too; it is renamed onto ``path`` on success
    and removed on failure.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a model file must end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part.keras", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        model.save(tmp_path, overwrite=True)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    return path


def load_model(path: str | os.PathLike, compile: bool = False):
    """Load a ``.keras`` model; a missing or unreadable file raises ``InputError``."""
    from lensfinder.io import InputError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: model file not found")
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # zip, JSON and deserialisation errors all mean "not our model"
        raise InputError(f"{path}: cannot load as a Keras model ({type(exc).__name__}: {exc})") from exc


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    """First ``length`` hex digits of the SHA-256 of a trained network (the ``model_hash`` column).

    For a ``.keras`` archive only its weights member is hashed: the archive
    also holds a save time and Python object ids, so two identical trainings
    would otherwise get different hashes. Any other file is hashed whole.
    """
    import zipfile

    digest = hashlib.sha256()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".weights.h5")]
            if names:
                with archive.open(names[0]) as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
                return digest.hexdigest()[:length]
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]
