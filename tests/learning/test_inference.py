"""Inference: streamed scores equal in-memory ones, index order, bad input, end to end."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from lensfinder.learning import forward, inference, metrics
from lensfinder.cli import main
from lensfinder.learning.datasets import toy_lens_images, write_toy_shard
from lensfinder.io import InputError, read_table, write_cube, write_table
from lensfinder.learning.preprocessing import preprocess
from lensfinder.learning.sidecar import read_settings, write_settings


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """An untrained he2020 with its settings sidecar (asinh, to exercise the stored choice)."""
    from lensfinder.learning.models import build_model, import_keras
    from lensfinder.learning.modelfiles import save_model

    keras = import_keras()
    keras.utils.set_random_seed(11)
    directory = tmp_path_factory.mktemp("model")
    path = save_model(build_model("he2020"), directory / "net.keras")
    write_settings({"model": "he2020", "input_shape": [49, 49, 1], "stamp_size": 101,
                    "preprocess": "bin2", "normalization": "asinh"}, path)
    return path


@pytest.fixture(scope="module")
def stamps(tmp_path_factory):
    directory = tmp_path_factory.mktemp("stamps")
    images, is_lens, _ = toy_lens_images(23, 101, np.random.default_rng(3))
    cube = write_cube(images, directory / "TILE_A.fits", 0.2, 30.0)
    ids = [f"KiDS J{i:04d}" for i in range(23)]
    write_table(pd.DataFrame({"object_id": ids, "is_lens": is_lens}), directory / "TILE_A.parquet")
    return cube, images


def _args(cube, model, out, *extra):
    return ["infer", "--stamps", str(cube), "--index", str(cube.with_suffix(".parquet")),
            "--model", str(model), "--out", str(out), *extra]


def test_streamed_scores_equal_in_memory_predict(untrained, stamps, tmp_path):
    from lensfinder.learning.modelfiles import load_model

    cube, images = stamps
    assert main(_args(cube, untrained, tmp_path / "p.parquet", "--batch-size", "5", "--threads", "2", "--tta", "none")) == 0
    table = read_table(tmp_path / "p.parquet")
    assert list(table.columns) == ["object_id", "p_cnn", "model", "model_hash", "shard", "is_lens"]
    assert list(table["object_id"]) == [f"KiDS J{i:04d}" for i in range(23)]  # index order
    assert set(table["model"]) == {"net"} and set(table["shard"]) == {"TILE_A"}
    settings = read_settings(untrained)
    expected = load_model(untrained).predict(preprocess(images, settings), verbose=0)[:, 1]
    np.testing.assert_allclose(table["p_cnn"], expected, rtol=1e-5, atol=1e-6)
    other = inference.predict_shard(cube, cube.with_suffix(".parquet"), [untrained], batch_size=256, tta="none")
    np.testing.assert_allclose(other["p_cnn"], table["p_cnn"], rtol=1e-5, atol=1e-6)  # batch size does not matter


def test_ensemble_averages(untrained, stamps, tmp_path):
    import shutil

    cube, _ = stamps
    twin = tmp_path / "twin.keras"
    shutil.copy(untrained, twin)
    shutil.copy(untrained.with_suffix(".json"), twin.with_suffix(".json"))
    single = inference.predict_shard(cube, cube.with_suffix(".parquet"), [untrained])
    both = inference.predict_shard(cube, cube.with_suffix(".parquet"), [untrained, twin])
    np.testing.assert_allclose(both["p_cnn"], single["p_cnn"], rtol=1e-6)
    assert set(both["model"]) == {"net+twin"} and both["model_hash"].iloc[0] != single["model_hash"].iloc[0]


def test_nan_stamps_are_filled_or_skipped_with_a_count(untrained, stamps, tmp_path, caplog):
    _, images = stamps
    bad = images[:4].copy()
    bad[1, 50, :50] = np.nan  # 0.5 % of the stamp: filled and scored
    bad[2] = np.nan  # all NaN: skipped
    cube = write_cube(bad, tmp_path / "nan.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": list("abcd")}), tmp_path / "nan.parquet")
    with caplog.at_level(logging.WARNING, logger="lensfinder.learning.inference"):
        table = inference.predict_shard(cube, tmp_path / "nan.parquet", [untrained])
    assert np.isfinite(table["p_cnn"][[0, 1, 3]]).all() and np.isnan(table["p_cnn"][2])
    assert "1 stamps skipped" in caplog.text and "1 stamps had NaN/inf pixels" in caplog.text
    assert "is_lens" not in table.columns


def test_an_ensemble_of_networks_in_other_bands_skips_by_the_worst_band_in_any_order(untrained, stamps, tmp_path):
    """Members that read different bands: a stamp whose g band is all NaN is skipped whether the g-band
    network comes first or last (the last member alone used to decide)."""
    import json
    import shutil

    _, images = stamps
    g_net = tmp_path / "g_net.keras"
    shutil.copy(untrained, g_net)
    settings = json.loads(untrained.with_suffix(".json").read_text())
    g_net.with_suffix(".json").write_text(json.dumps({**settings, "bands": ["g"]}))
    cube_images = np.stack([images[:3], images[:3]], axis=1).copy()  # (n, [g, r], ny, nx)
    cube_images[1, 0] = np.nan
    cube = write_cube(cube_images, tmp_path / "gr.fits", 0.2, 30.0, bands=("g", "r"))
    write_table(pd.DataFrame({"object_id": list("abc")}), tmp_path / "gr.parquet")
    for members in ([untrained, g_net], [g_net, untrained]):
        table = inference.predict_shard(cube, tmp_path / "gr.parquet", members)
        assert np.isnan(table["p_cnn"][1]) and np.isfinite(table["p_cnn"][[0, 2]]).all(), members


def test_stamps_of_another_pixel_scale_are_scored_with_a_warning(untrained, stamps, tmp_path, caplog):
    import json

    _, images = stamps
    settings = json.loads(untrained.with_suffix(".json").read_text())
    untrained.with_suffix(".json").write_text(json.dumps({**settings, "pixel_scale_arcsec": 0.2}))
    try:
        for scale, warned in ((0.201, False), (0.262, True)):
            cube = write_cube(images[:2], tmp_path / f"s{scale}.fits", scale, 30.0)
            write_table(pd.DataFrame({"object_id": ["a", "b"]}), cube.with_suffix(".parquet"))
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="lensfinder.learning.inference"):
                inference.predict_shard(cube, cube.with_suffix(".parquet"), [untrained], tta="none")
            assert ("0.262 arcsec/pixel, but net.keras was trained at 0.2" in caplog.text) == warned
    finally:
        untrained.with_suffix(".json").write_text(json.dumps(settings))


def test_empty_shard_gives_an_empty_table(untrained, tmp_path):
    cube = write_cube(np.zeros((0, 101, 101)), tmp_path / "empty.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": pd.Series([], dtype=str)}), tmp_path / "empty.parquet")
    assert main(_args(cube, untrained, tmp_path / "p.parquet")) == 0
    table = read_table(tmp_path / "p.parquet")
    assert len(table) == 0 and list(table.columns) == ["object_id", "p_cnn", "model", "model_hash", "shard"]


def test_several_cubes_are_scored_in_one_process_into_one_table(untrained, stamps, tmp_path, monkeypatch):
    """A scoring job of several tiles: one table, each cube's rows in order under its shard name, the same
    scores as one job per cube, the network loaded once; `rescore` writes the same rows one file per cube."""
    cube, _ = stamps
    images, is_lens, _ = toy_lens_images(7, 101, np.random.default_rng(4))
    other = write_cube(images, tmp_path / "TILE_B.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": [f"B{i}" for i in range(7)], "is_lens": is_lens}),
                other.with_suffix(".parquet"))
    empty = write_cube(np.zeros((0, 101, 101)), tmp_path / "TILE_C.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": pd.Series([], dtype=str), "is_lens": pd.Series([], dtype=bool)}),
                empty.with_suffix(".parquet"))
    cubes = [cube, other, empty]
    loads = []
    real_load = inference.load_model
    monkeypatch.setattr(inference, "load_model", lambda path, **kw: loads.append(path) or real_load(path, **kw))

    args = ["infer", "--stamps", *map(str, cubes), "--index", *(str(c.with_suffix(".parquet")) for c in cubes),
            "--model", str(untrained), "--out", str(tmp_path / "chunk.parquet"), "--tta", "dihedral"]
    assert main(args) == 0
    assert len(loads) == 1
    table = read_table(tmp_path / "chunk.parquet")
    assert list(table["shard"]) == ["TILE_A"] * 23 + ["TILE_B"] * 7
    assert list(table["object_id"][23:]) == [f"B{i}" for i in range(7)]
    for c in (cube, other):
        alone = inference.predict_shard(c, c.with_suffix(".parquet"), [untrained], tta="dihedral")
        rows = table[table["shard"] == c.stem].reset_index(drop=True)
        np.testing.assert_allclose(rows["p_cnn"], alone["p_cnn"], rtol=1e-5, atol=1e-6)
        assert list(rows["is_lens"]) == list(alone["is_lens"])

    outs = [tmp_path / f"r_{c.stem}.parquet" for c in cubes]
    assert main(["rescore", "--model", str(untrained), "--stamps", *map(str, cubes),
                 "--index", *(str(c.with_suffix(".parquet")) for c in cubes), "--out", *map(str, outs),
                 "--tta", "dihedral"]) == 0
    for c, out in zip(cubes, outs):
        rows = table[table["shard"] == c.stem].reset_index(drop=True)
        np.testing.assert_allclose(read_table(out)["p_cnn"], rows["p_cnn"], rtol=1e-6)


def test_several_cubes_are_checked_before_any_is_scored(untrained, stamps, tmp_path, capsys):
    cube, _ = stamps
    index = str(cube.with_suffix(".parquet"))
    twin = tmp_path / "TILE_A.fits"  # another directory, the same name: the shard column could not tell them apart
    twin.write_bytes(cube.read_bytes())
    out = tmp_path / "chunk.parquet"
    cases = [
        (["--stamps", str(cube), str(twin), "--index", index, index], "TILE_A.fits: its name 'TILE_A' is also"),
        (["--stamps", str(cube), str(cube), "--index", index], "2 stamp cubes but 1 indexes"),
        (["--stamps", str(cube), str(tmp_path / "gone.fits"), "--index", index, index], "gone.fits: file not found"),
    ]
    for files, message in cases:
        assert main(["infer", *files, "--model", str(untrained), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()


def test_bad_inputs_name_the_file(untrained, stamps, tmp_path, capsys):
    cube, images = stamps
    small = write_cube(images[:3, :97, :97], tmp_path / "small.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": list("abc")}), tmp_path / "small.parquet")
    assert main(_args(small, untrained, tmp_path / "p.parquet")) == 2
    assert "small.fits: stamps of 97x97 pixels, but net.keras was trained on 101x101" in capsys.readouterr().err

    short = tmp_path / "short.parquet"
    write_table(pd.DataFrame({"object_id": list("abc")}), short)
    with pytest.raises(InputError, match="short.parquet: 3 rows, but the cube TILE_A.fits holds 23"):
        inference.predict_shard(cube, short, [untrained])

    assert main(_args(cube, untrained, tmp_path / "p.parquet", "--normalization", "minmax")) == 2
    assert "net.json: normalization: the model was trained with 'asinh'" in capsys.readouterr().err

    orphan = tmp_path / "orphan.keras"
    orphan.write_bytes(untrained.read_bytes())
    assert main(_args(cube, orphan, tmp_path / "p.parquet")) == 2
    assert "orphan.json: settings file not found" in capsys.readouterr().err
    assert not (tmp_path / "p.parquet").exists()

    # a missing label is refused, not turned into a class (NaN was written as a lens, None as a non-lens)
    import shutil

    shutil.copy(cube, tmp_path / "nolabel.fits")
    write_table(pd.DataFrame({"object_id": [f"o{i}" for i in range(23)],
                              "is_lens": [1.0, np.nan] + [0.0] * 21}), tmp_path / "nolabel.parquet")
    assert main(_args(tmp_path / "nolabel.fits", untrained, tmp_path / "p.parquet")) == 2
    err = capsys.readouterr().err
    assert "nolabel.parquet" in err and "is_lens" in err and not (tmp_path / "p.parquet").exists()


def test_train_infer_evaluate_end_to_end(tmp_path):
    """A tiny toy run of the three steps: the trained network separates rings from blobs."""
    for k in range(2):
        write_toy_shard(tmp_path / "train", k, 96, seed=1)
    write_toy_shard(tmp_path / "test", 0, 60, seed=2)
    model = tmp_path / "he2020.keras"
    assert main(["train", "--shards", str(tmp_path / "train"), "--out", str(model), "--epochs", "2",
                 "--batch-size", "32", "--seed", "3", "--threads", "2"]) == 0
    test_cube = tmp_path / "test" / "shard_000.fits"
    assert main(_args(test_cube, model, tmp_path / "pred.parquet")) == 0
    assert main(["evaluate", "--predictions", str(tmp_path / "pred.parquet"), "--labels",
                 str(test_cube.with_suffix(".parquet")), "--out", str(tmp_path / "metrics.parquet"),
                 "--roc", str(tmp_path / "roc.parquet"), "--completeness", str(tmp_path / "comp.parquet")]) == 0
    result = read_table(tmp_path / "metrics.parquet")
    assert result["auroc"].iloc[0] >= 0.9, result
    pred = read_table(tmp_path / "pred.parquet")
    assert result["auroc"].iloc[0] == pytest.approx(metrics.auroc(pred["is_lens"], pred["p_cnn"]))


def test_scores_beyond_a_float32_softmax_keep_their_order(untrained, stamps, tmp_path):
    """Logit differences of 20-35, which a float32 softmax rounds to exactly 1.0, score below 1 and in order:
    p_cnn is the logistic function of the difference, in float64."""
    from lensfinder.learning.modelfiles import load_model, logit_heads, save_model

    cube, images = stamps
    model = load_model(untrained)
    x = preprocess(images, read_settings(untrained))
    [head] = logit_heads(model)
    logits = head.predict(x, verbose=0).astype(np.float64)
    m0 = logits[:, 1] - logits[:, 0]
    # the lens logit moved so that every stamp's difference is a * m0 + c, from 20 to 35
    a = 15.0 / (m0.max() - m0.min())
    c = 20.0 - a * m0.min()
    kernel, bias = model.get_layer("logits").get_weights()
    kernel[:, 1] = kernel[:, 0] + a * (kernel[:, 1] - kernel[:, 0])
    bias[1] = bias[0] + a * (bias[1] - bias[0]) + c
    model.get_layer("logits").set_weights([kernel, bias])
    sure = save_model(model, tmp_path / "sure.keras")
    write_settings(read_settings(untrained), sure)
    assert (load_model(sure).predict(x, verbose=0)[:, 1] == 1.0).all()  # what the softmax itself says

    table = inference.predict_shard(cube, cube.with_suffix(".parquet"), [sure], tta="none")
    p = table["p_cnn"].to_numpy()
    margin = a * m0 + c
    assert (p < 1.0).all() and len(np.unique(p)) == len(p)
    assert (np.argsort(p, kind="stable") == np.argsort(margin, kind="stable")).all()
    np.testing.assert_allclose(1.0 - p, np.exp(-margin), rtol=5e-3, atol=3e-16)  # float32 logits, float64 p


def test_logit_heads_are_found_behind_softmaxes_and_an_ensembles_members(untrained):
    """Each member of an ensemble file that takes the file's input gives its logits; a member behind
    another layer, or a head that is not a Dense and a softmax, leaves the scores to the file's output."""
    from lensfinder.learning.modelfiles import load_model, logit_heads
    from lensfinder.learning.models import import_keras

    keras = import_keras()
    net = load_model(untrained)
    [head] = logit_heads(net)
    assert head.output.shape[-1] == 2 and head.layers[-1].name == "logits"
    inputs = keras.Input(shape=(49, 49, 1))
    members = [keras.Model(net.inputs[0], net.outputs[0], name=f"m{k}")(inputs) for k in range(2)]
    pair = keras.Model(inputs, keras.layers.Average()(members))
    assert [h.layers[-1].name for h in logit_heads(pair)] == ["logits", "logits"]
    shifted = keras.layers.Rescaling(2.0)(inputs)
    behind = keras.Model(inputs, keras.layers.Average()([keras.Model(net.inputs[0], net.outputs[0], name=f"b{k}")(shifted)
                                                        for k in range(2)]))
    assert logit_heads(behind) is None
    x = keras.layers.Flatten()(inputs)
    assert logit_heads(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))) is None
    assert logit_heads(keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))) is None


def test_bfloat16_scores_are_the_float32_ones_to_bfloat16s_precision(untrained, stamps, tmp_path, capsys):
    """`--precision mixed_bfloat16`: the convolutions and dense layers compute in bfloat16, the logits in
    float32; the scores differ from float32's by bfloat16's rounding, not more. An unknown precision stops."""
    cube, _ = stamps
    out = {}
    for precision in ("float32", "mixed_bfloat16"):
        out[precision] = tmp_path / f"{precision}.parquet"
        assert main(_args(cube, untrained, out[precision], "--tta", "none", "--precision", precision)) == 0
    p32, p16 = (read_table(out[k])["p_cnn"].to_numpy() for k in ("float32", "mixed_bfloat16"))
    assert 0 < np.abs(p16 - p32).max() < 0.02
    rescored = tmp_path / "rescored.parquet"  # lensfinder rescore takes it too
    assert main(["rescore", "--model", str(untrained), "--stamps", str(cube), "--index", str(cube.with_suffix(".parquet")),
                 "--out", str(rescored), "--tta", "none", "--precision", "mixed_bfloat16"]) == 0
    np.testing.assert_allclose(read_table(rescored)["p_cnn"], p16, rtol=1e-6)
    [head] = inference.Scorer(untrained, precision="mixed_bfloat16").heads
    policies = {layer.name: layer.dtype_policy.name for layer in head.layers}
    assert policies["conv1"] == "mixed_bfloat16" and policies["logits"] == "float32"
    with pytest.raises(InputError, match="precision: 'float16': expected one of float32, mixed_bfloat16"):
        inference.Scorer(untrained, precision="float16")
    with pytest.raises(SystemExit):
        main(_args(cube, untrained, tmp_path / "x.parquet", "--precision", "float16"))
    assert "--precision: invalid choice: 'float16'" in capsys.readouterr().err


def _with_head(directory, name, units, activation):
    """A he2020-shaped body with another output head, saved with a sidecar."""
    from lensfinder.learning.models import import_keras
    from lensfinder.learning.modelfiles import save_model

    keras = import_keras()
    keras.utils.set_random_seed(5)
    inputs = keras.Input(shape=(49, 49, 1), name="image")
    x = keras.layers.Conv2D(4, 5, strides=4, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(units, activation=activation, name="head")(x)
    path = save_model(keras.Model(inputs, outputs), directory / f"{name}.keras")
    write_settings({"model": "he2020", "input_shape": [49, 49, 1], "stamp_size": 101,
                    "preprocess": "bin2", "normalization": "minmax"}, path)
    return path


def test_only_probability_heads_are_scored(stamps, tmp_path, capsys):
    from lensfinder.learning.modelfiles import load_model

    cube, images = stamps
    sigmoid = _with_head(tmp_path, "sigmoid", 1, "sigmoid")
    table = inference.predict_shard(cube, cube.with_suffix(".parquet"), [sigmoid], tta="none")
    expected = load_model(sigmoid).predict(preprocess(images, read_settings(sigmoid)), verbose=0)[:, 0]
    np.testing.assert_allclose(table["p_cnn"], expected, rtol=1e-5, atol=1e-6)
    for name, units, activation, said in (("three", 3, "softmax", "'softmax' and output shape (None, 3)"),
                                          ("logits", 2, None, "'linear' and output shape (None, 2)")):
        model = _with_head(tmp_path, name, units, activation)
        assert main(_args(cube, model, tmp_path / f"{name}.parquet")) == 2
        err = capsys.readouterr().err
        assert f"{name}.keras: the last layer 'head' (Dense) has activation {said}" in err
        assert "expected a 2-way softmax or a 1-unit sigmoid" in err
        assert not (tmp_path / f"{name}.parquet").exists()


def test_a_model_swapped_under_its_sidecar_or_corrupt_is_refused(untrained, stamps, tmp_path, capsys):
    import json
    import shutil

    from lensfinder.learning.modelfiles import file_hash

    cube, _ = stamps
    assert json.loads(untrained.with_suffix(".json").read_text())["weights_hash"] == file_hash(untrained)
    other = _with_head(tmp_path, "other", 2, "softmax")
    swapped = tmp_path / "swapped.keras"
    shutil.copy(other, swapped)
    shutil.copy(untrained.with_suffix(".json"), swapped.with_suffix(".json"))
    assert main(_args(cube, swapped, tmp_path / "p.parquet")) == 2
    err = capsys.readouterr().err
    assert f"swapped.keras: weights hash {file_hash(other)}, but its settings {swapped.with_suffix('.json')} " \
           f"were written for weights {file_hash(untrained)}" in err

    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(untrained.read_bytes()[:-100])  # truncated: the zip directory is gone
    shutil.copy(untrained.with_suffix(".json"), corrupt.with_suffix(".json"))
    assert main(_args(cube, corrupt, tmp_path / "p.parquet")) == 2
    assert "corrupt.keras: corrupt .keras archive" in capsys.readouterr().err
    assert not (tmp_path / "p.parquet").exists()


def test_dihedral_tta_is_the_mean_over_the_eight_orientations(untrained, stamps, tmp_path):
    """... and the default of ``lensfinder infer`` and of the Python functions, as the workflow's
    ``inference.tta``: a model scored with no options gets the workflow's scores."""
    from lensfinder.learning.modelfiles import load_model

    cube, images = stamps
    assert main(_args(cube, untrained, tmp_path / "tta.parquet", "--batch-size", "7")) == 0  # no --tta
    table = read_table(tmp_path / "tta.parquet")
    x = preprocess(images, read_settings(untrained))
    model = load_model(untrained)
    views = [np.rot90(x[:, :, ::-1] if flip else x, k, axes=(1, 2)) for flip in (False, True) for k in range(4)]
    per_view = np.array([model.predict(np.ascontiguousarray(v), verbose=0)[:, 1] for v in views])
    np.testing.assert_allclose(table["p_cnn"], per_view.mean(axis=0), rtol=1e-5, atol=1e-6)
    default = inference.predict_shard(cube, cube.with_suffix(".parquet"), [untrained])
    np.testing.assert_allclose(default["p_cnn"], table["p_cnn"], rtol=1e-5, atol=1e-6)
    assert main(_args(cube, untrained, tmp_path / "plain.parquet", "--tta", "none")) == 0
    plain = read_table(tmp_path / "plain.parquet")
    np.testing.assert_allclose(plain["p_cnn"], model.predict(x, verbose=0)[:, 1], rtol=1e-5, atol=1e-6)
    assert np.abs(plain["p_cnn"].to_numpy() - table["p_cnn"].to_numpy()).max() > 1e-4  # the views differ
    with pytest.raises(InputError, match="tta: 'mirror'"):
        inference.predict_shard(cube, cube.with_suffix(".parquet"), [untrained], tta="mirror")


def test_rotations_of_the_dihedral_scores_are_tf_image_rot90s():
    """The scorer's quarter turns (plain transposes and reversals, cheap to trace) are the pixels of
    ``tf.image.rot90`` and of ``np.rot90`` for every k, on a non-square batch of several bands."""
    from lensfinder.learning.models import import_keras

    import_keras()
    import tensorflow as tf

    x = np.random.default_rng(5).normal(size=(3, 5, 7, 2)).astype(np.float32)
    for k in range(-1, 6):
        turned = forward.rot90(tf, tf.constant(x), k).numpy()
        np.testing.assert_array_equal(turned, tf.image.rot90(x, k=k % 4).numpy(), err_msg=f"k={k}")
        np.testing.assert_array_equal(turned, np.rot90(x, k, axes=(1, 2)), err_msg=f"k={k}")


def test_two_scale_input_trains_and_scores(tmp_path):
    """``--preprocess bin2_crop``: one band enters twice (binned field, full-resolution centre); the
    sidecar records 2 channels, and streamed scoring equals predicting the preprocessed stamps."""
    from lensfinder.learning.modelfiles import load_model

    write_toy_shard(tmp_path / "train", 0, 128, seed=1)
    write_toy_shard(tmp_path / "test", 0, 40, seed=2)
    model = tmp_path / "two_scale.keras"
    assert main(["train", "--shards", str(tmp_path / "train"), "--out", str(model), "--epochs", "2",
                 "--batch-size", "32", "--seed", "3", "--threads", "2", "--preprocess", "bin2_crop"]) == 0
    settings = read_settings(model)
    assert settings["input_shape"] == [49, 49, 2] and settings["preprocess"] == "bin2_crop"
    assert settings["n_parameters"] == 2_101_372 + 5 * 5 * 20  # the first convolution sees 2 channels
    cube = tmp_path / "test" / "shard_000.fits"
    assert main(_args(cube, model, tmp_path / "p.parquet", "--tta", "none")) == 0
    table = read_table(tmp_path / "p.parquet")
    from astropy.io import fits

    images = fits.getdata(cube).astype(np.float32)
    expected = load_model(model).predict(preprocess(images, settings), verbose=0)[:, 1]
    np.testing.assert_allclose(table["p_cnn"], expected, rtol=1e-5, atol=1e-6)
    assert metrics.auroc(table["is_lens"], table["p_cnn"]) >= 0.8


def test_scoring_default_tta_is_the_workflow_default(repo_root):
    """``lensfinder infer``, ``lensfinder rescore`` and the Python functions default to the
    workflow's ``inference.tta`` and ``inference.precision`` (schema and config/config.yaml), so a model scored outside the
    workflow with no options gets the scores the workflow gave it."""
    import argparse
    import inspect

    import yaml

    from lensfinder.cli.learning import add_infer_arguments
    from lensfinder.cli.rounds import add_rescore_arguments

    schema = yaml.safe_load((repo_root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    assert schema["properties"]["inference"]["properties"]["tta"]["default"] == inference.DEFAULT_TTA
    assert config["inference"]["tta"] == inference.DEFAULT_TTA
    for add in (add_infer_arguments, add_rescore_arguments):
        parser = argparse.ArgumentParser()
        add(parser)
        assert parser.get_default("tta") == inference.DEFAULT_TTA, add.__name__
        assert parser.get_default("precision") == config["inference"]["precision"] == "float32", add.__name__
    assert schema["properties"]["inference"]["properties"]["precision"]["default"] == "float32"
    for function in (inference.score_cube, inference.predict_shard):
        assert inspect.signature(function).parameters["tta"].default == inference.DEFAULT_TTA, function.__name__
    assert inspect.signature(inference.predict_shard).parameters["precision"].default == "float32"
