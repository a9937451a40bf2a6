"""The papers' networks: layer shapes, parameter counts, precision, save/load."""

from __future__ import annotations


import numpy as np
import pytest

from lensfinder.learning import models
from lensfinder.constants import HE2020_N_PARAMETERS
from lensfinder.io import InputError


def test_he2020_matches_the_paper():
    model = models.build_model("he2020", (49, 49, 1))
    assert model.count_params() == HE2020_N_PARAMETERS == 2_101_372
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (45, 45, 20)
    assert shapes["pool1"] == (22, 22, 20)  # floor pooling
    assert shapes["conv2"] == (18, 18, 50)
    assert shapes["pool2"] == (9, 9, 50)
    assert shapes["flatten"] == (4050,)
    assert [shapes[n] for n in ("fc1", "fc2", "logits", "p")] == [(500,), (100,), (2,), (2,)]
    assert models.expected_n_parameters("he2020", (49, 49, 1)) == HE2020_N_PARAMETERS


@pytest.mark.parametrize("bands", [1, 3])
def test_resnet18_parameter_count_is_the_derived_one(bands):
    model = models.build_model("resnet18", (101, 101, bands))
    assert model.count_params() == models.RESNET18_N_PARAMETERS[bands] == models.resnet18_n_parameters(bands)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 7_808  # BN moving mean + variance of 3,904 channels
    assert tuple(model.get_layer("avg_pool").output.shape[1:]) == (1, 1, 512)
    assert tuple(model.get_layer("stage4_block2_add").output.shape[1:]) == (4, 4, 512)


def test_output_layer_stays_float32_under_mixed_precision():
    keras = models.import_keras()
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = models.build_model("he2020")
        assert model.get_layer("conv1").compute_dtype == "float16"
        assert model.get_layer("logits").compute_dtype == "float32"
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # float16 cannot hold He et al.'s threshold; float32 can.
    assert np.float16(0.999999) == 1.0 and np.float32(0.999999) < 1.0


def test_save_and_load_give_identical_predictions(tmp_path):
    keras = models.import_keras()
    keras.utils.set_random_seed(3)
    model = models.build_model("he2020")
    x = np.random.default_rng(0).normal(size=(5, 49, 49, 1)).astype(np.float32)
    path = models.save_model(model, tmp_path / "net.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.keras"]  # no temporary left
    loaded = models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert len(models.file_hash(path)) == 16


def test_bad_names_and_files(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        models.build_model("alexnet")
    with pytest.raises(ValueError, match="too small"):
        models.build_model("he2020", (12, 12, 1))
    with pytest.raises(ValueError, match=".keras"):
        models.save_model(None, tmp_path / "net.h5")
    with pytest.raises(InputError, match="not found"):
        models.load_model(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    with pytest.raises(InputError, match="bad.keras"):
        models.load_model(bad)
