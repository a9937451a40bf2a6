"""The papers' networks: layer shapes, parameter counts, precision, save/load."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from lensfinder.learning import modelfiles, models
from lensfinder.constants import HE2020_N_PARAMETERS
from lensfinder.io import InputError

from helpers.early_runs import early_test


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


# and Keras imported without scikit-learn (its wrappers, which lensfinder never uses: 1 s of every start),
# which stays importable
_TF_START = ("import sys; from lensfinder.learning.models import import_keras; keras = import_keras(); "
             "hidden = 'sklearn' not in sys.modules; import sklearn.base; import tensorflow as tf; "
             "print(hidden, keras.backend.backend(), sklearn.base.__name__); print(float(tf.constant(1.0) + 1))")


@early_test(25)
def test_tensorflow_starts_with_onednn_unless_the_environment_says_no(_workdir):
    # TensorFlow turns oneDNN on by itself only on AVX-512 VNNI/BF16/AMX CPUs; on AVX2 CPUs
    # its own kernels train he2020 1.5-2 times slower (benchmarks/onednn.py). Both processes
    # start at once: each spends its time importing TensorFlow.
    base = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    base["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TensorFlow logs whether its oneDNN operations are on
    cases = {None: (base, True), "0": ({**base, "TF_ENABLE_ONEDNN_OPTS": "0"}, False)}  # setting: env, oneDNN on
    runs = {setting: subprocess.Popen([sys.executable, "-c", _TF_START], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for setting, (env, _) in cases.items()}
    for setting, (_, on) in cases.items():
        stdout, stderr = runs[setting].communicate(timeout=300)
        assert runs[setting].returncode == 0, (setting, stderr[-2000:])
        assert stdout.strip().splitlines()[-2:] == ["True tensorflow sklearn.base", "2.0"]
        assert ("oneDNN custom operations are on" in stderr) is on, setting


def test_he2020_in_three_bands():
    model = models.build_model("he2020", (49, 49, 3))
    assert model.count_params() == models.HE2020_N_PARAMETERS_BY_BANDS[3] == 2_102_372
    assert model.count_params() == models.he2020_n_parameters((49, 49, 3))
    assert models.he2020_n_parameters((49, 49, 1)) == HE2020_N_PARAMETERS
    assert models.expected_n_parameters("he2020", (49, 49, 3)) == 2_102_372
    assert models.expected_n_parameters("he2020", (51, 51, 3)) is None
    assert tuple(model.get_layer("conv1").kernel.shape) == (5, 5, 3, 20)  # each filter sees g, r and i
    with pytest.raises(ValueError, match="at least one band"):
        models.build_model("he2020", (49, 49, 0))


def test_he2020_half_keeps_the_design_at_half_the_filters():
    """he2020_half: He et al.'s layers with 10 and 25 filters, on the default's two-scale g, r, i input."""
    model = models.build_model("he2020_half", (49, 49, 6))
    full = models.build_model("he2020", (49, 49, 6))
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    full_shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in full.layers}
    assert shapes["conv1"] == (45, 45, 10) and shapes["conv2"] == (18, 18, 25) and shapes["flatten"] == (2025,)
    assert [layer.name for layer in model.layers] == [layer.name for layer in full.layers]
    assert all(shapes[n] == full_shapes[n] for n in ("fc1", "fc2", "logits", "p"))
    # 5*5*6*10+10 + 5*5*10*25+25 + 2025*500+500 + 500*100+100 + 100*2+2
    assert model.count_params() == models.he2020_n_parameters((49, 49, 6), filters=(10, 25)) == 1_071_087
    assert models.expected_n_parameters("he2020_half", (49, 49, 6)) == 1_071_087
    assert models.expected_n_parameters("he2020_half", (51, 51, 6)) is None
    assert model.name == "he2020_half" and models.DEFAULT_INPUT_SIZE["he2020_half"] == 49
    with pytest.raises(ValueError, match="he2020_half: input .* too small"):
        models.build_model("he2020_half", (12, 12, 3))


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


@pytest.mark.parametrize("name, shape, conv", [("he2020", (49, 49, 6), "conv1"), ("resnet18", (40, 40, 1), "stem_conv")])
def test_a_network_trained_in_mixed_precision_is_loaded_in_the_machines_policy(tmp_path, name, shape, conv):
    """A network saved under mixed_float16 (as a GPU trains it) keeps float16 layers when loaded as it
    is; loaded with ``policy="float32"`` (a CPU's) every layer computes in float32 with the same
    weights, and its scores are the float16 network's within float16's rounding."""
    keras = models.import_keras()
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        keras.utils.set_random_seed(4)
        path = modelfiles.save_model(models.build_model(name, shape), tmp_path / "gpu.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    as_saved = modelfiles.load_model(path)
    assert as_saved.get_layer(conv).compute_dtype == "float16"
    cpu = modelfiles.load_model(path, policy="float32")
    assert {layer.compute_dtype for layer in cpu.layers} == {"float32"}
    assert cpu.name == as_saved.name and cpu.count_params() == as_saved.count_params()
    for a, b in zip(as_saved.get_weights(), cpu.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(1).normal(size=(8, *shape)).astype(np.float32)
    p16, p32 = as_saved.predict(x, verbose=0), cpu.predict(x, verbose=0)
    assert p32.dtype == np.float32 and not np.array_equal(p16, p32)
    np.testing.assert_allclose(p16, p32, atol=2e-2)
    # a network already in the machine's policy comes back as loaded, float32 layers stay float32
    assert modelfiles.in_policy(cpu, "float32") is cpu
    bf16 = modelfiles.in_policy(as_saved, "mixed_bfloat16")
    assert bf16.get_layer(conv).compute_dtype == "bfloat16" and bf16.get_layer("logits").compute_dtype == "float32"


def test_precision_choices_map_to_keras_policies(repo_root):
    import yaml

    from lensfinder.learning.runtime import PRECISIONS, precision_policy

    schema = yaml.safe_load((repo_root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    key = schema["properties"]["training"]["properties"]["precision"]
    assert key["enum"] == list(PRECISIONS) and key["default"] == "auto"

    assert precision_policy("auto", gpu=True) == "mixed_float16"
    assert precision_policy("auto", gpu=False) == "float32"
    assert precision_policy("mixed_bfloat16", gpu=False) == "mixed_bfloat16"
    with pytest.raises(ValueError, match=r"precision 'float16': expected one of .*'auto'"):
        precision_policy("float16", gpu=False)
    assert set(PRECISIONS) - {"auto"} <= {"float32", "mixed_float16", "mixed_bfloat16"}


def test_save_and_load_give_identical_predictions(tmp_path):
    keras = models.import_keras()
    keras.utils.set_random_seed(3)
    model = models.build_model("he2020")
    x = np.random.default_rng(0).normal(size=(5, 49, 49, 1)).astype(np.float32)
    path = modelfiles.save_model(model, tmp_path / "net.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.keras"]  # no temporary left
    loaded = modelfiles.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert len(modelfiles.file_hash(path)) == 16


def test_bad_names_and_files(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        models.build_model("alexnet")
    with pytest.raises(ValueError, match="too small"):
        models.build_model("he2020", (12, 12, 1))
    with pytest.raises(ValueError, match=".keras"):
        modelfiles.save_model(None, tmp_path / "net.h5")
    with pytest.raises(InputError, match="not found"):
        modelfiles.load_model(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    with pytest.raises(InputError, match="bad.keras"):
        modelfiles.load_model(bad)


def _head(keras, units, activation, size=8):
    inputs = keras.Input(shape=(size, size, 1), name="image")
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation, name="out")(x))


def test_model_files_get_the_permissions_of_a_plain_open(tmp_path):
    import os

    keras = models.import_keras()
    model = _head(keras, 2, "softmax")
    old = os.umask(0o022)
    try:
        modelfiles.save_model(model, tmp_path / "a.keras")
        os.umask(0o027)
        modelfiles.save_model(model, tmp_path / "b.keras")
    finally:
        os.umask(old)
    assert (tmp_path / "a.keras").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.keras").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.keras", "b.keras"]


def test_lens_probability_column_accepts_only_probability_heads():
    keras = models.import_keras()
    assert modelfiles.lens_probability_column(models.build_model("he2020")) == 1
    assert modelfiles.lens_probability_column(_head(keras, 2, "softmax")) == 1
    assert modelfiles.lens_probability_column(_head(keras, 1, "sigmoid")) == 0
    for units, activation, said in ((3, "softmax", r"'softmax' and output shape \(None, 3\)"),
                                    (2, None, r"'linear' and output shape \(None, 2\)"),
                                    (1, "softmax", r"'softmax' and output shape \(None, 1\)"),
                                    (2, "sigmoid", r"'sigmoid' and output shape \(None, 2\)")):
        with pytest.raises(InputError, match=rf"net.keras: the last layer 'out' \(Dense\) has activation {said}; "
                                             "expected a 2-way softmax or a 1-unit sigmoid"):
            modelfiles.lens_probability_column(_head(keras, units, activation), "net.keras")


def test_file_hash_of_a_corrupt_archive_names_the_file(tmp_path):
    import zipfile

    keras = models.import_keras()
    path = modelfiles.save_model(_head(keras, 2, "softmax", size=32), tmp_path / "net.keras")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(next(n for n in archive.namelist() if n.endswith(".weights.h5")))
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # one flipped byte inside the weights member
    (tmp_path / "flipped.keras").write_bytes(bytes(data))
    (tmp_path / "short.keras").write_bytes(bytes(data[: len(data) // 2]))
    for name in ("flipped.keras", "short.keras"):
        with pytest.raises(InputError, match=rf"{name}: corrupt .keras archive"):
            modelfiles.file_hash(tmp_path / name)


def test_bfloat16_instructions_are_read_from_the_cpus_flags(tmp_path):
    """`mixed_bfloat16` is fast on a CPU only with AVX-512 BF16 or AMX; the flags say which CPU has them."""
    from lensfinder.learning.runtime import cpu_computes_bfloat16

    def cpuinfo(text):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return path

    zen4 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n"
    assert cpu_computes_bfloat16(cpuinfo(zen4)) is True
    assert cpu_computes_bfloat16(cpuinfo(zen4.replace(" avx512_bf16", " amx_bf16 amx_tile"))) is True
    assert cpu_computes_bfloat16(cpuinfo(zen4.replace(" avx512_vnni avx512_bf16", ""))) is False  # Zen 3
    assert cpu_computes_bfloat16(cpuinfo("processor\t: 0\nFeatures\t: fp asimd bf16\n")) is None  # Arm: unknown
    assert cpu_computes_bfloat16(tmp_path / "absent") is None  # macOS, Windows


def test_bfloat16_instructions_are_read_from_llvm_on_any_os():
    """Without a cpuinfo file the answer comes from LLVM's view of the host, which macOS and Windows
    have too: on a Linux x86 machine it agrees with /proc/cpuinfo's flags; a CPU that is not x86 is
    unknown."""
    from lensfinder.hostcpu import is_x86
    from lensfinder.learning.runtime import cpu_computes_bfloat16

    assert cpu_computes_bfloat16(machine="aarch64") is None
    assert cpu_computes_bfloat16(machine="arm64") is None
    answer = cpu_computes_bfloat16()
    if not is_x86():
        assert answer is None
        return
    assert isinstance(answer, bool)
    from_flags = cpu_computes_bfloat16("/proc/cpuinfo")
    if from_flags is None:
        pytest.skip("no /proc/cpuinfo flags line to compare LLVM's answer with")
    assert answer is from_flags


def test_bfloat16_is_warned_about_where_emulated_and_suggested_where_native(monkeypatch, caplog):
    """A training in mixed_bfloat16 where it is emulated warns; one in float32 (auto) where bfloat16 is
    native says that it would be faster; neither otherwise."""
    from lensfinder.learning import runtime

    keras = models.import_keras()
    monkeypatch.setattr(runtime, "gpu_visible", lambda: False)  # a CPU's training, on every machine
    for computes, warned in ((False, True), (True, False), (None, False)):
        monkeypatch.setattr(runtime, "cpu_computes_bfloat16", lambda computes=computes: computes)
        caplog.clear()
        try:
            with caplog.at_level("WARNING", logger="lensfinder.learning.runtime"):
                assert runtime.configure_tensorflow(0, precision="mixed_bfloat16") == "mixed_bfloat16"
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        finally:
            keras.mixed_precision.set_global_policy("float32")
        assert ("emulates them, expect training slower than in float32" in caplog.text) is warned, computes
    for precision, computes, hinted in (("auto", True, True), ("auto", False, False), ("float32", True, False)):
        monkeypatch.setattr(runtime, "cpu_computes_bfloat16", lambda computes=computes: computes)
        caplog.clear()
        with caplog.at_level("INFO", logger="lensfinder.learning.runtime"):
            assert runtime.configure_tensorflow(0, precision=precision) == "float32"
        assert ("mixed_bfloat16 trains the default network about 1.7 times as fast" in caplog.text) is hinted
        assert "emulates" not in caplog.text
