"""The two papers' networks, and a narrower he2020, as Keras 3 functional models compiled for training.

``he2020``: He et al. 2020, section 2 (2,101,372 parameters); ``he2020_half``:
the same design with half the convolution filters (10 and 25), 2.5 times as
fast to train on a CPU, for training sets too large for the full network's
time (docs/experiments.md); ``resnet18``: the keras-resnet design used by Li
et al. 2020, section 2.2. All take
``(ny, nx, n_bands)`` images, channels last: the papers' one band (r) or
several (g, r, i). Architectures and parameter counts: docs/learning.md.
Keras is imported inside the functions. Saving, loading and hashing model
files: :mod:`lensfinder.learning.modelfiles`.
"""

from __future__ import annotations

import os
import sys

from lensfinder.constants import ADAM_EPSILON, HE2020_INPUT_SIZE, HE2020_N_PARAMETERS, LI2020_STAMP_SIZE

__all__ = [
    "MODEL_NAMES",
    "DEFAULT_INPUT_SIZE",
    "RESNET18_N_PARAMETERS",
    "HE2020_N_PARAMETERS_BY_BANDS",
    "build_model",
    "compile_model",
    "he2020",
    "he2020_half",
    "resnet18",
    "he2020_n_parameters",
    "resnet18_n_parameters",
    "expected_n_parameters",
    "import_keras",
    "DEFAULT_KERAS_BACKEND",
]

#: The Keras backend :func:`import_keras` loads unless ``KERAS_BACKEND`` names another.
DEFAULT_KERAS_BACKEND = "tensorflow"

#: Network names accepted by :func:`build_model`.
MODEL_NAMES = ("he2020", "he2020_half", "resnet18")
#: Default input size (pixels) per network: He et al. 2020, section 2 (49);
#: Li et al. 2020, section 2.1 (101x101 cutouts).
DEFAULT_INPUT_SIZE = {"he2020": HE2020_INPUT_SIZE, "he2020_half": HE2020_INPUT_SIZE, "resnet18": LI2020_STAMP_SIZE}
#: Convolution filters of He et al. 2020's network (section 2), and of ``he2020_half``.
HE2020_FILTERS = {"he2020": (20, 50), "he2020_half": (10, 25)}
#: ResNet-18 (keras-resnet design) with a 2-way softmax: parameters for 1 and
#: 3 input bands, derived in docs/learning.md.
RESNET18_N_PARAMETERS = {1: 11_182_082, 3: 11_188_354}
#: He et al. 2020's network on 49x49 inputs: the paper's count for 1 band (section 2), and
#: for 3 bands 1,000 more (the first 5x5 convolution's 20 filters see 2 more channels: 2 x 5 x 5 x 20).
HE2020_N_PARAMETERS_BY_BANDS = {1: HE2020_N_PARAMETERS, 3: HE2020_N_PARAMETERS + 2 * 5 * 5 * 20}

_RESNET_WEIGHT_DECAY = 1e-4  # keras-resnet: l2(1.e-4) on every convolution
_RESNET_STAGE_FILTERS = (64, 128, 256, 512)
_RESNET18_REPETITIONS = (2, 2, 2, 2)


def import_keras():
    """Import Keras (TensorFlow backend) with TensorFlow's C++ logging quiet and oneDNN on.

    TensorFlow turns its oneDNN kernels on by itself only on CPUs with
    AVX-512 VNNI, BF16 or AMX. On AVX2 CPUs (AMD Zen 3, most laptops) oneDNN
    trains the default he2020 network 1.5-2 times as fast as TensorFlow's own
    kernels, mostly in the first convolution's filter gradient
    (``benchmarks/onednn.py``). Results stay deterministic for a given thread
    count. ``TF_ENABLE_ONEDNN_OPTS=0`` in the environment keeps TensorFlow's
    own kernels.

    Keras imports scikit-learn, where it is installed (lenstronomy needs it),
    for its scikit-learn wrappers alone, which lensfinder never uses: about
    1 s of the 8 s that each training or scoring process spends starting
    TensorFlow on a 2-core AVX2 machine (``benchmarks/keras_start.py``). It
    is hidden from Keras while Keras is imported, and importable again after.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_KERAS_BACKEND)
    if "keras" in sys.modules:
        return sys.modules["keras"]
    hide = "sklearn" not in sys.modules
    if hide:
        sys.modules["sklearn"] = None  # `import sklearn` raises ImportError: Keras leaves its wrappers out
    try:
        import keras
    finally:
        if hide and "sklearn" in sys.modules and sys.modules["sklearn"] is None:
            del sys.modules["sklearn"]
    return keras


def _output_head(keras, x, n_classes: int, kernel_initializer="glorot_uniform"):
    # float32 whatever the global policy: float16 cannot hold 0.999999.
    logits = keras.layers.Dense(n_classes, kernel_initializer=kernel_initializer, name="logits", dtype="float32")(x)
    return keras.layers.Activation("softmax", name="p", dtype="float32")(logits)


def he2020(input_shape=(HE2020_INPUT_SIZE, HE2020_INPUT_SIZE, 1), n_classes: int = 2, filters=HE2020_FILTERS["he2020"],
           name: str = "he2020"):
    """He et al. 2020 (section 2) network: 2 convolutions + 3 fully connected layers.

    Parameters
    ----------
    input_shape : tuple of int
        ``(ny, nx, n_bands)`` in pixels; the paper's is ``(49, 49, 1)``, which
        gives exactly ``constants.HE2020_N_PARAMETERS`` parameters
        (:func:`he2020_n_parameters` for other shapes).
    n_classes : int
        Output classes (2: non-lens, lens).
    filters : (int, int)
        Filters of the two convolutions: the paper's 20 and 50, or
        ``HE2020_FILTERS["he2020_half"]`` for :func:`he2020_half`.
    name : str
        The model's name.

    Returns
    -------
    keras.Model
        Functional model mapping images to class probabilities.
    """
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(filters[0], 5, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="pool1")(x)
    x = layers.Conv2D(filters[1], 5, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(500, activation="relu", name="fc1")(x)
    x = layers.Dense(100, activation="relu", name="fc2")(x)
    outputs = _output_head(keras, x, n_classes)
    return keras.Model(inputs, outputs, name=name)


def he2020_half(input_shape=(HE2020_INPUT_SIZE, HE2020_INPUT_SIZE, 1), n_classes: int = 2):
    """:func:`he2020` with half the convolution filters (10 and 25) and the same dense layers.

    0.38 of the full network's multiply-adds per image (conv1 and fc1 half,
    conv2 a quarter), 2.5 times its training images/s on one CPU thread; trained on
    96,000 images it scores the ``domain_shift`` independent set as the full
    network does (docs/experiments.md, "A network of half the width").
    """
    return he2020(input_shape, n_classes, filters=HE2020_FILTERS["he2020_half"], name="he2020_half")


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
        ``(ny, nx, n_bands)``; Li et al. use 101x101 r-band cutouts (1 band);
        the colour search g, r, i (3 bands).
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


def he2020_n_parameters(input_shape=(HE2020_INPUT_SIZE, HE2020_INPUT_SIZE, 1), n_classes: int = 2,
                        filters=HE2020_FILTERS["he2020"]) -> int:
    """Parameter count of :func:`he2020`, summed from the design (no Keras).

    Two valid 5x5 convolutions (``filters``: 20 and 50 in the paper), each
    followed by a 2x2 max pooling, then dense layers of 500, 100 and
    ``n_classes`` units.
    """
    ny, nx, bands = (int(v) for v in input_shape)
    f1, f2 = filters
    side_y, side_x = ((ny - 4) // 2 - 4) // 2, ((nx - 4) // 2 - 4) // 2
    convolutions = (5 * 5 * bands * f1 + f1) + (5 * 5 * f1 * f2 + f2)
    dense = (side_y * side_x * f2 * 500 + 500) + (500 * 100 + 100) + (100 * n_classes + n_classes)
    return convolutions + dense


def expected_n_parameters(name: str, input_shape) -> int | None:
    """The documented parameter count of a network, or None where none is fixed.

    ``he2020`` has its documented counts (:data:`HE2020_N_PARAMETERS_BY_BANDS`)
    only for 49x49 inputs; ``he2020_half`` its design's count (:func:`he2020_n_parameters`) there.
    """
    size_ok = tuple(input_shape[:2]) == (HE2020_INPUT_SIZE, HE2020_INPUT_SIZE)
    if name == "he2020":
        return HE2020_N_PARAMETERS_BY_BANDS.get(int(input_shape[-1])) if size_ok else None
    if name == "he2020_half":
        return he2020_n_parameters(input_shape, filters=HE2020_FILTERS[name]) if size_ok else None
    if name == "resnet18":
        return resnet18_n_parameters(int(input_shape[-1]))
    return None


_BUILDERS = {"he2020": he2020, "he2020_half": he2020_half, "resnet18": resnet18}


def build_model(name: str, input_shape=None):
    """Build a network by name.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    input_shape : tuple of int, optional
        ``(ny, nx, n_bands)``; default ``(DEFAULT_INPUT_SIZE[name],) * 2 + (1,)``.

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
        raise ValueError(f"{name}: input_shape must be (ny, nx, n_bands), got {input_shape}")
    if input_shape[2] < 1:
        raise ValueError(f"{name}: input_shape {input_shape}: expected at least one band")
    if name in HE2020_FILTERS and min(input_shape[:2]) < 16:
        raise ValueError(f"{name}: input {input_shape} too small for two 5x5 convolutions and poolings")
    return _BUILDERS[name](input_shape)


def compile_model(config, size: int, n_bands: int = 1, steps_per_epoch: int = 1):
    """``config.model`` for ``(size, size, n_bands)`` inputs, compiled with Adam on the cross-entropy.

    ``config`` is a :class:`lensfinder.learning.config.TrainConfig` (not imported here: that module
    imports this one).

    Adam with epsilon :data:`ADAM_EPSILON` (He et al. 2020, eq. 7) on the
    negative log-likelihood of the 2-way softmax (sparse categorical
    cross-entropy), reporting accuracy. ``config.lr_schedule`` ``cosine``
    decays the step to 0 over ``config.epochs * steps_per_epoch`` steps;
    ``config.ema_momentum`` > 0 keeps a moving average of the weights, which
    Keras writes into the model when ``fit`` ends.
    """
    keras = import_keras()
    model = build_model(config.model, (size, size, n_bands))
    learning_rate = config.learning_rate
    if config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=max(1, config.epochs * steps_per_epoch), alpha=0.0)
    ema = {"use_ema": True, "ema_momentum": config.ema_momentum} if config.ema_momentum > 0 else {}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, epsilon=ADAM_EPSILON, **ema),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model
