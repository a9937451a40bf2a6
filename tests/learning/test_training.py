"""Training: streaming shards, determinism, resume after a kill, presets, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lensfinder.learning import training
from lensfinder.learning.config import resolve_config
from lensfinder.learning.stream import TrainingStream, augment_batch, split_rows
from lensfinder.learning.datasets import CubeReader, ShardSet, write_toy_shard
from lensfinder.io import InputError, read_cube, write_cube, write_table
from lensfinder.learning.modelfiles import file_hash


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("shards")
    for k in range(2):
        write_toy_shard(directory, k, 40, seed=7)
    return directory


def _config(**kw):
    base = dict(epochs=2, batch_size=16, learning_rate=1e-3, val_fraction=0.2, seed=5, preprocess="bin2")
    return resolve_config(None, **{**base, **kw})


def _weights(path):
    from lensfinder.learning.modelfiles import load_model

    return [np.asarray(w) for w in load_model(path).get_weights()]


def test_cube_reader_matches_astropy(tmp_path):
    images = np.random.default_rng(0).normal(size=(7, 11, 11)).astype(np.float32)
    write_cube(images, tmp_path / "f.fits", 0.2, 30.0)
    write_cube(images * 100, tmp_path / "i.fits", 0.2, 30.0, dtype="int16")
    write_cube(np.zeros((0, 11, 11)), tmp_path / "e.fits", 0.2, 30.0)
    with CubeReader(tmp_path / "f.fits") as reader:
        np.testing.assert_array_equal(reader.read(2, 5), images[2:5])
        np.testing.assert_array_equal(reader.take([6, 0, 3]), images[[6, 0, 3]])
        assert reader.read(5, 100).shape == (2, 11, 11)
    scaled, _ = read_cube(tmp_path / "i.fits", memmap=False)
    with CubeReader(tmp_path / "i.fits") as reader:
        np.testing.assert_allclose(reader.take([1, 4]), scaled[[1, 4]], rtol=1e-6)
    with CubeReader(tmp_path / "e.fits") as reader:
        assert reader.n == 0 and reader.shape == (11, 11)
    (tmp_path / "t.fits").write_bytes((tmp_path / "f.fits").read_bytes()[:4000])
    with pytest.raises(InputError, match="t.fits: truncated"):
        CubeReader(tmp_path / "t.fits")


def test_stream_is_seeded_balanced_and_holds_only_labels(shard_dir):
    shards = ShardSet([shard_dir])
    assert len(shards) == 80 and shards.labels.dtype == bool
    train_rows, val_rows = split_rows(len(shards), 0.2, seed=5)
    assert len(val_rows) == 16 and not set(train_rows) & set(val_rows)
    stream = TrainingStream(shards, train_rows, val_rows, _config(class_balance="balanced"))
    order0, order1 = stream.epoch_order(0), stream.epoch_order(1)
    assert not np.array_equal(order0, order1)
    labels = shards.labels[order0]
    assert labels.sum() == (~labels).sum() == stream.images_per_epoch // 2
    x1, y1, w1 = stream.train_batch(3)
    x2, y2, w2 = TrainingStream(shards, train_rows, val_rows, _config(class_balance="balanced")).train_batch(3)
    np.testing.assert_array_equal(x1, x2)  # a batch depends only on the seed and its step
    assert x1.shape == (16, 49, 49, 1) and (w1 == 1).all()
    weighted = TrainingStream(shards, train_rows, val_rows, _config(class_balance="weights"))
    _, y, w = weighted.train_batch(0)
    expected = np.where(y == 1, weighted.class_weight[True], weighted.class_weight[False])
    np.testing.assert_allclose(w, expected, rtol=1e-6)


def test_augment_batch_is_seeded_and_keeps_flux():
    x = np.random.default_rng(0).random((8, 49, 49)).astype(np.float32)
    a = augment_batch(x, np.random.default_rng(1), max_shift_pix=2, flux_jitter=0.0)
    b = augment_batch(x, np.random.default_rng(1), max_shift_pix=2, flux_jitter=0.0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=1e-5)  # rotations, flips, rolls
    scaled = augment_batch(x, np.random.default_rng(1), max_shift_pix=0, flux_jitter=0.1)
    ratio = scaled.sum(axis=(1, 2)) / x.sum(axis=(1, 2))
    assert ((ratio >= 0.9 - 1e-6) & (ratio <= 1.1 + 1e-6)).all()


def test_cli_defaults_are_the_train_config_defaults(monkeypatch, tmp_path):
    import lensfinder.cli.learning as cli_learning
    from lensfinder.cli import main
    from lensfinder.learning.config import TrainConfig

    seen = {}
    monkeypatch.setattr(cli_learning, "train", lambda shards, config, *a, **kw: seen.update(config=config))
    assert main(["train", "--shards", str(tmp_path), "--out", str(tmp_path / "m.keras")]) == 0
    assert seen["config"] == TrainConfig()


def test_workflow_defaults_are_the_train_config_defaults(repo_root):
    """One source of defaults: the config schema, config.yaml and ``lensfinder train`` agree."""
    import dataclasses

    import yaml

    from lensfinder.learning.config import TrainConfig

    schema = yaml.safe_load((repo_root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["properties"]["training"]["properties"]
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())["training"]
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    shared = sorted(set(keys) & set(fields))
    assert {"model", "epochs", "batch_size", "learning_rate", "preprocess", "normalization"} <= set(shared)
    for key in shared:
        assert keys[key]["default"] == fields[key], f"config.schema.yaml training.{key}"
        if key in config:
            assert config[key] == fields[key], f"config/config.yaml training.{key}"


def test_presets_and_overrides():
    case4 = resolve_config("case4")
    assert (case4.learning_rate, case4.batch_size, case4.epochs) == (0.01, 64, 50)
    assert resolve_config("case2", epochs=3).epochs == 3
    assert resolve_config("case0", learning_rate=None).learning_rate == 0.03
    with pytest.raises(ValueError, match="preset"):
        resolve_config("case9")
    with pytest.raises(ValueError, match="normalization"):
        resolve_config(None, normalization="zscale")


class _Killed(RuntimeError):
    pass


def test_two_runs_give_the_same_weights_and_a_killed_run_resumes(shard_dir, tmp_path):
    from lensfinder.learning.models import import_keras

    keras = import_keras()
    config = _config()
    history_a = training.train([shard_dir], config, tmp_path / "a.keras", threads=2)
    training.train([shard_dir], config, tmp_path / "b.keras", threads=2, cache_mb=0)  # inputs prepared every epoch
    weights_a = _weights(tmp_path / "a.keras")
    for wa, wb in zip(weights_a, _weights(tmp_path / "b.keras")):
        np.testing.assert_array_equal(wa, wb)
    assert list(history_a["epoch"]) == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "images_per_s"} <= set(history_a.columns)

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise _Killed("simulated kill")

    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Killed):
        training.train([shard_dir], config, tmp_path / "c.keras", checkpoint_dir=ckpt, threads=2,
                       callbacks=[KillAfterFirstEpoch()])
    assert not (tmp_path / "c.keras").exists()
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epoch"] == 1 and (ckpt / state["checkpoint"]).exists()
    history_c = training.train([shard_dir], config, tmp_path / "c.keras", checkpoint_dir=ckpt, threads=2)
    assert list(history_c["epoch"]) == [1, 2]
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch_0002.keras", "state.json"]
    # same batches, restored optimizer state: the resumed run ends where the uninterrupted one did
    for wa, wc in zip(weights_a, _weights(tmp_path / "c.keras")):
        np.testing.assert_allclose(wa, wc, rtol=1e-5, atol=1e-6)
    history_csv = pd.read_csv(tmp_path / "c.history.csv")
    assert list(history_csv["epoch"]) == [1, 2]
    settings = json.loads((tmp_path / "c.json").read_text())
    assert settings["input_shape"] == [49, 49, 1] and settings["stamp_size"] == 101
    assert settings["normalization"] == "sky" and settings["seed"] == 5
    assert settings["training"]["adam_epsilon"] == 1e-8 and len(settings["data_hash"]) == 16
    assert settings["training"]["threads"] == 2  # the weights depend on it
    assert settings["n_parameters"] == 2_101_372
    assert settings["weights_hash"] == file_hash(tmp_path / "c.keras")
    # fewer epochs than the checkpoint holds: trained afresh, not the longer model under a shorter sidecar
    history_e = training.train([shard_dir], _config(epochs=1), tmp_path / "e.keras", checkpoint_dir=ckpt, threads=2)
    assert list(history_e["epoch"]) == [1]
    assert json.loads((tmp_path / "e.json").read_text())["training"]["epochs"] == 1
    assert list(pd.read_csv(tmp_path / "e.history.csv")["epoch"]) == [1]
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch_0001.keras", "state.json"]
    assert any(not np.allclose(we, wc) for we, wc in zip(_weights(tmp_path / "e.keras"), _weights(tmp_path / "c.keras")))
    # other settings with the same checkpoint directory: start afresh, stale checkpoint removed
    history_d = training.train([shard_dir], _config(epochs=1, learning_rate=3e-3), tmp_path / "d.keras",
                               checkpoint_dir=ckpt, threads=2)
    assert list(history_d["epoch"]) == [1]
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch_0001.keras", "state.json"]
    # a checkpoint a power loss left empty, and a save a kill -9 cut short: the rerun starts afresh and
    # trains the same weights, and the leftover is gone
    (ckpt / "epoch_0001.keras").write_bytes(b"")
    (ckpt / ".epoch_0002.keras.x1y2z3.part.keras").write_bytes(b"PK")
    history_f = training.train([shard_dir], _config(epochs=1, learning_rate=3e-3), tmp_path / "f.keras",
                               checkpoint_dir=ckpt, threads=2)
    assert list(history_f["epoch"]) == [1]
    assert sorted(p.name for p in ckpt.iterdir()) == ["epoch_0001.keras", "state.json"]
    for wd, wf in zip(_weights(tmp_path / "d.keras"), _weights(tmp_path / "f.keras")):
        np.testing.assert_array_equal(wd, wf)


def test_no_validation_split_trains_on_every_image(shard_dir, tmp_path):
    """val_fraction 0 (the paper preset's: He et al. train on the whole set, their validation sets are their
    own): every image trains, the learning curve has no validation columns, the sidecar says so."""
    history = training.train([shard_dir], _config(epochs=1, val_fraction=0.0), tmp_path / "n.keras", threads=2)
    assert list(history["epoch"]) == [1] and "loss" in history.columns
    assert not history.filter(like="val_").notna().any(axis=None)
    record = json.loads((tmp_path / "n.json").read_text())["training"]
    assert record["n_train"] == 80 and record["n_val"] == 0


def test_train_cli_and_bad_shards(shard_dir, tmp_path, capsys):
    from lensfinder.cli import main

    out = tmp_path / "m" / "he2020.keras"
    rc = main(["train", "--shards", str(shard_dir / "shard_000.fits"), str(shard_dir / "shard_001.parquet"),
               "--out", str(out), "--epochs", "1", "--batch-size", "32", "--normalization", "li2020",
               "--class-balance", "weights", "--no-augment", "--threads", "2"])
    assert rc == 0 and out.exists() and (out.parent / "he2020.history.csv").exists()
    assert json.loads(out.with_suffix(".json").read_text())["normalization"] == "li2020"

    one_class = tmp_path / "one"
    write_toy_shard(one_class, 0, 10, lens_fraction=0.0)
    assert main(["train", "--shards", str(one_class), "--out", str(tmp_path / "x.keras")]) == 2
    assert "only one class" in capsys.readouterr().err

    small = tmp_path / "small"
    write_cube(np.zeros((4, 97, 97)), small / "shard_000.fits", 0.21, 30.0)
    write_table(pd.DataFrame({"object_id": list("abcd"), "is_lens": [True, False] * 2}), small / "shard_000.parquet")
    assert main(["train", "--shards", str(small), "--out", str(tmp_path / "x.keras")]) == 2
    assert "shard_000.fits: bin2 needs stamps of at least 98x98" in capsys.readouterr().err

    write_table(pd.DataFrame({"object_id": list("abcd")}), small / "shard_000.parquet")
    assert main(["train", "--shards", str(small), "--out", str(tmp_path / "x.keras")]) == 2
    assert "shard_000.parquet: missing column(s) is_lens" in capsys.readouterr().err
    # labels written as text: "False" would read as a lens
    write_table(pd.DataFrame({"object_id": list("abcd"), "is_lens": ["True", "False"] * 2}), small / "shard_000.parquet")
    assert main(["train", "--shards", str(small), "--out", str(tmp_path / "x.keras")]) == 2
    assert "shard_000.parquet: is_lens: 'True' is not a boolean" in capsys.readouterr().err
    # shards of two pixel scales: one network cannot read both
    mixed = tmp_path / "mixed"
    write_toy_shard(mixed, 0, 8)
    cube, _ = read_cube(mixed / "shard_000.fits", memmap=False)
    write_cube(cube, mixed / "shard_001.fits", 0.262, 30.0)
    write_table(pd.read_parquet(mixed / "shard_000.parquet"), mixed / "shard_001.parquet")
    assert main(["train", "--shards", str(mixed), "--out", str(tmp_path / "x.keras")]) == 2
    assert "shard_001.fits: header PIXSCALE 0.262 arcsec/px, but shard_000.fits has 0.2" in capsys.readouterr().err

    assert main(["train", "--shards", str(tmp_path / "nowhere.fits"), "--out", str(tmp_path / "x.keras")]) == 2
    assert "nowhere.fits: file not found" in capsys.readouterr().err
    assert main(["train", "--shards", str(shard_dir), "--out", str(tmp_path / "x.h5")]) == 2
    assert not (tmp_path / "x.keras").exists()


def test_lenses_with_buried_arcs_are_left_out_of_training(tmp_path, caplog):
    """`min_arc_visible_snr`: lenses whose arcs never outshine the rest of their light (metadata
    `arc_visible_snr` below it) leave training and validation; rows without the value stay."""
    for shard, seed in ((0, 3), (1, 4)):
        write_toy_shard(tmp_path, shard, 40, seed=seed)
    table = pd.read_parquet(tmp_path / "shard_000.parquet")
    lens = table["is_lens"].to_numpy()
    visible = np.where(lens, np.where(np.arange(40) % 2 == 0, 0.0, 50.0), np.nan)
    write_table(table.assign(arc_visible_snr=visible), tmp_path / "shard_000.parquet")  # shard 1: no column
    shards = ShardSet([tmp_path])
    column = shards.column("arc_visible_snr")
    np.testing.assert_array_equal(column[:40], visible)
    assert np.isnan(column[40:]).all()
    buried = np.zeros(80, dtype=bool)
    buried[:40] = lens & (visible < 10)
    train_rows, val_rows = split_rows(80, 0.2, seed=5)
    with caplog.at_level("INFO", logger="lensfinder.learning.training"):
        training.train([tmp_path], _config(epochs=1, min_arc_visible_snr=10), tmp_path / "m.keras", threads=1)
    assert f"left out {buried.sum()} of {shards.labels.sum()} lenses with arc_visible_snr < 10" in caplog.text
    kept_train, kept_val = (~buried[train_rows]).sum(), (~buried[val_rows]).sum()
    lenses = (shards.labels[train_rows] & ~buried[train_rows]).sum()
    assert f"{kept_train} training images ({lenses} lenses), {kept_val} for validation" in caplog.text
    with pytest.raises(ValueError, match="min_arc_visible_snr"):
        _config(min_arc_visible_snr=-1)


def test_cosine_schedule_decays_to_zero_and_its_length_is_in_the_resume_key(shard_dir, tmp_path):
    """`lr_schedule: cosine`: after epoch e of E the step is lr * (1 + cos(pi e / E)) / 2 (0 at the
    end); a resumed cosine run must have the same number of epochs, a constant one need not."""
    history = training.train([shard_dir], _config(epochs=2, lr_schedule="cosine"), tmp_path / "c.keras", threads=1)
    np.testing.assert_allclose(history["learning_rate"], [0.5e-3, 0.0], rtol=1e-5, atol=1e-9)  # cos(pi/2), cos(pi)
    assert _config(epochs=2).resume_key() == _config(epochs=5).resume_key()
    assert _config(epochs=2, lr_schedule="cosine").resume_key() != _config(epochs=5, lr_schedule="cosine").resume_key()
    assert json.loads((tmp_path / "c.json").read_text())["training"]["lr_schedule"] == "cosine"
    with pytest.raises(ValueError, match="lr_schedule 'step'"):
        _config(lr_schedule="step")


def test_weight_averaging_saves_the_moving_average_of_the_trajectory(shard_dir, tmp_path):
    """`ema_momentum`: the saved weights are the exponential moving average of the weights after
    every step (the first step's weights, then m * average + (1 - m) * weights), recomputed here
    from a run without averaging, whose trajectory is the same."""
    from lensfinder.learning.models import import_keras

    keras = import_keras()
    trajectory = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            trajectory.append([np.array(w) for w in self.model.get_weights()])

    training.train([shard_dir], _config(epochs=2), tmp_path / "plain.keras", threads=1, callbacks=[Record()])
    m = 0.9
    average = trajectory[0]
    for step in trajectory[1:]:
        average = [m * a + (1 - m) * w for a, w in zip(average, step)]
    training.train([shard_dir], _config(epochs=2, ema_momentum=m), tmp_path / "ema.keras", threads=1,
                   checkpoint_dir=tmp_path / "ck")
    saved = _weights(tmp_path / "ema.keras")
    # a rerun after the model was deleted (or a job killed after its last epoch) finds every epoch in the
    # checkpoint: it saves the same average, not the checkpoint's last weights
    (tmp_path / "ema.keras").unlink()
    training.train([shard_dir], _config(epochs=2, ema_momentum=m), tmp_path / "ema.keras", threads=1,
                   checkpoint_dir=tmp_path / "ck")
    for w, again in zip(saved, _weights(tmp_path / "ema.keras")):
        np.testing.assert_array_equal(again, w)
    assert len(trajectory) > 4
    for a, w in zip(average, saved):
        np.testing.assert_allclose(w, a, rtol=1e-4, atol=1e-6)
    assert any(not np.allclose(w, t) for w, t in zip(saved, trajectory[-1]))  # not the last weights
    with pytest.raises(ValueError, match="ema_momentum"):
        _config(ema_momentum=1.0)


def _three_band_shards_with_a_nan(directory):
    """Two g, r, i toy shards of 24 images in ``directory``, one training image with a NaN pixel;
    returns the ``(train_rows, val_rows)`` split of their 48 rows."""
    for k in range(2):
        write_toy_shard(directory, k, 24, seed=3, bands=["g", "r", "i"])
    train_rows, val_rows = split_rows(48, 0.25, seed=1)
    cube, _ = read_cube(directory / "shard_000.fits", memmap=False)
    cube[train_rows[0], 1, 50, 50] = np.nan
    write_cube(cube, directory / "shard_000.fits", 0.2, 30.0, bands=["g", "r", "i"])
    return train_rows, val_rows


@pytest.mark.parametrize("preprocess", ["bin2_crop", "bin2"])
def test_kept_sky_levels_give_the_same_batches(tmp_path, preprocess):
    """The stream measures each image's border sky once and reuses it: every batch, first read or
    not, equals one prepared from scratch (three bands, a non-finite pixel included)."""
    from lensfinder.learning.preprocessing import prepare_batch

    train_rows, val_rows = _three_band_shards_with_a_nan(tmp_path)
    shards = ShardSet([tmp_path])
    config = _config(preprocess=preprocess, batch_size=8, augment=False)
    stream = TrainingStream(shards, train_rows, val_rows, config)
    assert not stream._sky_known.any()
    for step in range(2 * stream.n_batches):  # two epochs: measured, then kept
        x, _, _ = stream.train_batch(step)
        rows = stream.epoch_order(step // stream.n_batches)[(step % stream.n_batches) * 8:][:8]
        fresh, _ = prepare_batch(shards.take(rows), stream._settings)
        np.testing.assert_array_equal(x, fresh)
    assert stream._sky_known[train_rows].all() and not stream._sky_known[val_rows].any()
    assert stream.nonfinite_images == 2
    np.testing.assert_array_equal(stream.val_batch(0)[0], prepare_batch(shards.take(val_rows[:8]), stream._settings)[0])


def test_rows_with_their_tiles_moffat_fits_are_matched_with_them(tmp_path):
    """Shards whose tables carry Moffat fits of the residual's bands (a fine-tuning set's survey stamps, from
    their stamp index): those rows' colour residual is matched with the fits, as scoring matches it
    (`prepare_batch` with them), on the first read and from the kept sky alike; the other rows are prepared as
    before, bit for bit; a network whose residual is only scaled ignores the fits."""
    from lensfinder.learning.preprocessing import prepare_batch
    from lensfinder.learning.residual import moffat_fit_columns

    train_rows, val_rows = _three_band_shards_with_a_nan(tmp_path)
    config = _config(batch_size=8, augment=False, preprocess="bin2_crop")
    before = TrainingStream(ShardSet([tmp_path]), train_rows, val_rows, config)
    assert before.moffat_rows == 0
    fits = np.full((48, 4), np.nan)
    fits[:24:2] = [0.9, 2.5, 0.7, 4.5]  # every other row of the first shard; the second shard's table has none
    table = pd.read_parquet(tmp_path / "shard_000.parquet")
    for k, column in enumerate(moffat_fit_columns(("g", "r"))):
        table[column] = fits[:24, k]
    write_table(table, tmp_path / "shard_000.parquet")
    shards = ShardSet([tmp_path])
    stream = TrainingStream(shards, train_rows, val_rows, config)
    assert stream.moffat_rows == 12
    matched_any = False
    for step in range(2 * stream.n_batches):  # two epochs: measured, then kept
        x, _, _ = stream.train_batch(step)
        rows = stream.epoch_order(step // stream.n_batches)[(step % stream.n_batches) * 8:][:8]
        np.testing.assert_array_equal(x, prepare_batch(shards.take(rows), stream._settings, psf=(fits[rows], 0.2))[0])
        plain = ~np.isfinite(fits[rows]).all(axis=1)
        old = before.train_batch(step)[0]
        np.testing.assert_array_equal(x[plain], old[plain])
        for image, previous in zip(x[~plain], old[~plain]):
            assert not np.array_equal(image, previous)
            matched_any = True
    assert matched_any
    scaled = TrainingStream(shards, train_rows, val_rows, _config(colour_residual_match="scale"))
    assert scaled.moffat_rows == 0


def test_cached_inputs_give_the_same_batches_and_skip_the_reads(tmp_path, monkeypatch):
    """Prepared inputs kept between epochs (all of them, some, none): the same batches bit for bit,
    non-finite images counted at every read as before, and a fully cached epoch reads no shard."""
    train_rows, val_rows = _three_band_shards_with_a_nan(tmp_path)
    config = _config(batch_size=8, preprocess="bin2_crop")  # augmented: the cache holds inputs before augmentation
    per_image_mb = 4 * 49 * 49 * 8 / 2**20  # float32, 49 x 49, 3 bands and the g-r residual at two scales
    runs = {}
    for label, cache_mb in (("none", 0), ("ten", 10.5 * per_image_mb), ("all", 1000)):
        shards = ShardSet([tmp_path])
        reads = []
        take = shards.take
        monkeypatch.setattr(shards, "take", lambda rows, take=take, reads=reads: reads.append(len(rows)) or take(rows))
        stream = TrainingStream(shards, train_rows, val_rows, config, cache_mb=cache_mb)
        batches = [stream.train_batch(step) for step in range(2 * stream.n_batches)]
        batches += [stream.val_batch(0), stream.val_batch(0)]
        runs[label] = (stream, batches, reads)
    assert [runs[k][0].cached_images for k in ("none", "ten", "all")] == [0, 10, 48]
    for label in ("ten", "all"):
        for a, b in zip(runs["none"][1], runs[label][1]):
            for part_a, part_b in zip(a, b):
                np.testing.assert_array_equal(part_a, part_b)
        assert runs[label][0].nonfinite_images == runs["none"][0].nonfinite_images == 2
    n_train = len(train_rows)
    assert sum(runs["none"][2]) == 2 * n_train + 16  # every image, every epoch, and both validation batches
    assert sum(runs["all"][2]) == n_train + 8  # each image once
    assert n_train + 8 < sum(runs["ten"][2]) < 2 * n_train + 16
    with pytest.raises(InputError, match="cache_mb: -1"):
        TrainingStream(ShardSet([tmp_path]), train_rows, val_rows, config, cache_mb=-1)


def test_init_weights_start_the_training_and_are_checked(shard_dir, tmp_path, capsys):
    """`--init-weights`: the run starts from that network (a near-zero step keeps its weights, while
    the same seed from scratch does not), records it, does not resume a scratch run's checkpoint;
    epochs 0 keeps it as it is; a network for other inputs is refused, naming the file and key."""
    from lensfinder.cli import main

    base = tmp_path / "base.keras"
    training.train([shard_dir], _config(epochs=1, seed=1), base, threads=1)
    start = _weights(base)

    scratch = tmp_path / "scratch.keras"
    slow = _config(epochs=1, seed=2, learning_rate=1e-9)
    training.train([shard_dir], slow, scratch, checkpoint_dir=tmp_path / "ck", threads=1)
    assert max(float(np.abs(a - b).max()) for a, b in zip(_weights(scratch), start)) > 1e-3

    tuned = tmp_path / "tuned.keras"  # same seed, settings and checkpoint directory: only the init differs
    training.train([shard_dir], slow, tuned, checkpoint_dir=tmp_path / "ck", threads=1, init_weights=base)
    for a, b in zip(_weights(tuned), start):
        np.testing.assert_allclose(a, b, atol=1e-6)
    init = json.loads(tuned.with_suffix(".json").read_text())["init"]
    assert init["weights_hash"] == file_hash(base) and init["path"].endswith("base.keras")
    assert json.loads(scratch.with_suffix(".json").read_text())["init"] is None

    curve = pd.read_csv(tuned.with_suffix(".history.csv"))  # the init's epoch, then this run's, numbered on
    assert curve["epoch"].tolist() == [1, 2] and curve["stage"].tolist() == ["init", "this run"]

    kept = tmp_path / "kept.keras"
    history = training.train([shard_dir], _config(epochs=0, seed=3), kept, threads=1, init_weights=base)
    assert history.empty
    for a, b in zip(_weights(kept), start):
        np.testing.assert_array_equal(a, b)
    curve = pd.read_csv(kept.with_suffix(".history.csv"))
    assert curve["stage"].tolist() == ["init"] and curve["loss"].tolist() == pd.read_csv(
        base.with_suffix(".history.csv"))["loss"].tolist()
    assert main(["figures", "--kind", "learning_curve", "--inputs", str(kept.with_suffix(".history.csv")),
                 "--out", str(tmp_path / "curve.png")]) == 0
    base.with_suffix(".history.csv").unlink()  # an init without a learning curve: this run's epochs alone
    alone = tmp_path / "alone.keras"
    training.train([shard_dir], _config(epochs=0, seed=3), alone, threads=1, init_weights=base)
    assert main(["figures", "--kind", "learning_curve", "--inputs", str(alone.with_suffix(".history.csv")),
                 "--out", str(tmp_path / "alone.png")]) == 0
    assert (tmp_path / "curve.png").stat().st_size > 0 and (tmp_path / "alone.png").stat().st_size > 0
    # a network whose curve was written elsewhere (the workflow's --history; training.soup fine-tunes it):
    # the sidecar records where, and the run from it starts with those epochs
    elsewhere = tmp_path / "curves" / "elsewhere.csv"
    elsewhere.parent.mkdir()
    training.train([shard_dir], _config(epochs=1, seed=4), tmp_path / "trained.keras", history_path=elsewhere,
                   threads=1)
    assert not (tmp_path / "trained.history.csv").exists()
    training.train([shard_dir], _config(epochs=0, seed=3), tmp_path / "copy.keras", threads=1,
                   init_weights=tmp_path / "trained.keras")
    curve = pd.read_csv(tmp_path / "copy.history.csv")
    assert curve["stage"].tolist() == ["init"] and curve["loss"].tolist() == pd.read_csv(elsewhere)["loss"].tolist()
    with pytest.raises(InputError, match="epochs 0: nothing to train"):
        training.train([shard_dir], _config(epochs=0), tmp_path / "none.keras", threads=1)

    args = ["train", "--shards", str(shard_dir), "--out", str(tmp_path / "x.keras"), "--epochs", "1",
            "--preprocess", "bin2", "--init-weights", str(base)]
    assert main(args[:-2] + ["--normalization", "minmax", "--init-weights", str(base)]) == 2
    err = capsys.readouterr().err
    assert "base.keras: init weights: normalization 'sky', but this training's is 'minmax'" in err
    assert main(args[:-1] + [str(tmp_path / "missing.keras")]) == 2
    assert "missing.keras: init weights: expected a .keras network" in capsys.readouterr().err
    base.with_suffix(".json").write_text(json.dumps({**json.loads(base.with_suffix(".json").read_text()),
                                                     "weights_hash": "0" * 16}))
    assert main(args) == 2
    assert "the model file was replaced" in capsys.readouterr().err
    assert not (tmp_path / "x.keras").exists()


def test_export_network_leaves_the_optimiser_out_and_starts_a_run(shard_dir, tmp_path, capsys):
    """`lensfinder export-network`: the same weights in a smaller file, the sidecar (with provenance) and
    learning curve beside it, and a network that `--init-weights` accepts; bad paths name the file."""
    from lensfinder.cli import main

    trained = tmp_path / "trained.keras"
    training.train([shard_dir], _config(epochs=1, seed=1), trained, threads=1)
    (tmp_path / "prov.json").write_text(json.dumps({"recipe": "test"}))
    shipped = tmp_path / "ship" / "net.keras"
    assert main(["export-network", "--model", str(trained), "--out", str(shipped),
                 "--provenance", str(tmp_path / "prov.json")]) == 0
    assert shipped.stat().st_size < 0.6 * trained.stat().st_size  # Adam's two moments per weight left out
    for a, b in zip(_weights(shipped), _weights(trained), strict=True):
        np.testing.assert_array_equal(a, b)
    settings = json.loads(shipped.with_suffix(".json").read_text())
    assert settings["provenance"] == {"recipe": "test"} and settings["weights_hash"] == file_hash(shipped)
    assert settings["data_hash"] == json.loads(trained.with_suffix(".json").read_text())["data_hash"]
    assert shipped.with_suffix(".history.csv").read_text() == trained.with_suffix(".history.csv").read_text()
    kept = tmp_path / "kept.keras"
    training.train([shard_dir], _config(epochs=0), kept, threads=1, init_weights=shipped)
    for a, b in zip(_weights(kept), _weights(trained), strict=True):
        np.testing.assert_array_equal(a, b)

    assert main(["export-network", "--model", str(trained), "--out", str(tmp_path / "x.h5")]) == 2
    assert "x.h5: the exported network's file must end in .keras" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["export-network", "--model", str(trained), "--out", str(tmp_path / "y.keras"),
                 "--provenance", str(tmp_path / "bad.json")]) == 2
    assert "bad.json: expected a JSON object" in capsys.readouterr().err
    # the object given as text (what `snakemake export_network` passes)
    assert main(["export-network", "--model", str(trained), "--out", str(tmp_path / "w.keras"),
                 "--provenance-json", '{"recipe": "text"}']) == 0
    assert json.loads((tmp_path / "w.json").read_text())["provenance"] == {"recipe": "text"}
    assert main(["export-network", "--model", str(trained), "--out", str(tmp_path / "v.keras"),
                 "--provenance-json", "{recipe"]) == 2
    assert "--provenance-json: not readable JSON" in capsys.readouterr().err
    trained.with_suffix(".json").unlink()
    assert main(["export-network", "--model", str(trained), "--out", str(tmp_path / "z.keras")]) == 2
    assert "trained.json: settings file not found" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("x.h5", "y.keras", "v.keras"))


def test_he2020_half_trains_scores_and_is_not_taken_for_he2020(shard_dir, tmp_path, capsys):
    """`--model he2020_half` through the CLI: the sidecar names it, the file holds its design, it
    scores; a full he2020 network is refused as its starting point, naming the key."""
    from lensfinder.cli import main
    from lensfinder.learning.models import expected_n_parameters
    from lensfinder.learning.modelfiles import load_model

    out = tmp_path / "he2020_half.keras"
    args = ["train", "--shards", str(shard_dir), "--epochs", "1", "--batch-size", "16", "--threads", "1"]
    assert main([*args, "--model", "he2020_half", "--out", str(out)]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["model"] == "he2020_half"
    assert settings["training"]["precision"] == "float32" and not settings["training"]["mixed_precision"]  # auto, CPU
    network = load_model(out)
    assert network.name == "he2020_half" and network.get_layer("conv2").output.shape[-1] == 25
    assert network.count_params() == expected_n_parameters("he2020_half", network.input_shape[1:])
    scores = tmp_path / "scores.parquet"
    assert main(["infer", "--stamps", str(shard_dir / "shard_000.fits"), "--index",
                 str(shard_dir / "shard_000.parquet"), "--model", str(out), "--out", str(scores)]) == 0
    assert pd.read_parquet(scores)["p_cnn"].between(0, 1).all()

    full = tmp_path / "he2020.keras"
    assert main([*args, "--out", str(full)]) == 0
    assert main([*args, "--model", "he2020_half", "--out", str(tmp_path / "x.keras"), "--init-weights", str(full)]) == 2
    assert "he2020.keras: init weights: model 'he2020', but this training's is 'he2020_half'" in capsys.readouterr().err


def test_a_network_trained_in_mixed_precision_scores_in_float32_on_a_cpu(shard_dir, tmp_path, capsys):
    """`--precision mixed_float16` trains as a GPU does and the sidecar says so; the file keeps float16
    layers, and `lensfinder infer` on this CPU scores with float32 ones (float16 is slower there)."""
    from lensfinder.cli import main
    from lensfinder.learning.inference import Scorer
    from lensfinder.learning.modelfiles import load_model

    from lensfinder.learning.models import import_keras

    out = tmp_path / "mixed.keras"
    try:
        assert main(["train", "--shards", str(shard_dir), "--epochs", "1", "--batch-size", "16", "--threads", "1",
                     "--precision", "mixed_float16", "--out", str(out)]) == 0
        assert import_keras().mixed_precision.global_policy().name == "mixed_float16"  # as the training set it
    finally:
        import_keras().mixed_precision.set_global_policy("float32")  # for the tests after this one
    training_record = json.loads(out.with_suffix(".json").read_text())["training"]
    assert training_record["precision"] == "mixed_float16" and training_record["mixed_precision"]
    assert load_model(out).get_layer("conv1").compute_dtype == "float16"
    assert {layer.compute_dtype for layer in Scorer(out).model.layers} == {"float32"}
    scores = tmp_path / "scores.parquet"
    assert main(["infer", "--stamps", str(shard_dir / "shard_000.fits"), "--index",
                 str(shard_dir / "shard_000.parquet"), "--model", str(out), "--out", str(scores)]) == 0
    assert pd.read_parquet(scores)["p_cnn"].between(0, 1).all()
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["train", "--shards", str(shard_dir), "--precision", "float16", "--out", str(tmp_path / "x.keras")])
    assert "argument --precision: invalid choice: 'float16'" in capsys.readouterr().err


def test_an_exported_ensemble_scores_as_its_members_together(shard_dir, tmp_path, capsys):
    """`lensfinder export-network --ensemble`: one file holding two networks (he2020 and he2020_half) that
    scores each stamp at the mean of their probabilities, as `infer --ensemble` does, with a sidecar
    listing them; a training refuses to start from it, and a member of another input is refused."""
    from lensfinder.cli import main
    from lensfinder.io import read_table

    nets = []
    for model, seed in (("he2020", 1), ("he2020_half", 2)):
        path = tmp_path / f"{model}.keras"
        training.train([shard_dir], _config(epochs=1, seed=seed, model=model), path, threads=1)
        nets.append(path)
    pair = tmp_path / "pair.keras"
    assert main(["export-network", "--model", str(nets[0]), "--ensemble", str(nets[1]), "--out", str(pair)]) == 0
    settings = json.loads(pair.with_suffix(".json").read_text())
    assert [m["model"] for m in settings["ensemble"]] == ["he2020", "he2020_half"]
    assert [m["weights_hash"] for m in settings["ensemble"]] == [file_hash(n) for n in nets]
    assert settings["weights_hash"] == file_hash(pair) and settings["preprocess"] == "bin2"
    cube, index = shard_dir / "shard_000.fits", shard_dir / "shard_000.parquet"
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert main(["infer", "--stamps", str(cube), "--index", str(index), "--model", str(pair), "--out", str(one)]) == 0
    assert main(["infer", "--stamps", str(cube), "--index", str(index), "--model", str(nets[0]),
                 "--ensemble", str(nets[1]), "--out", str(two)]) == 0
    a, b = read_table(one), read_table(two)
    assert list(a["object_id"]) == list(b["object_id"]) and a["p_cnn"].std() > 0
    np.testing.assert_allclose(a["p_cnn"], b["p_cnn"], atol=1e-5)

    with pytest.raises(InputError, match="pair.keras: init weights: an ensemble of 2 networks in one file"):
        training.train([shard_dir], _config(epochs=0), tmp_path / "kept.keras", threads=1, init_weights=pair)
    assert main(["export-network", "--model", str(pair), "--ensemble", str(nets[0]),
                 "--out", str(tmp_path / "x.keras")]) == 2
    assert "pair.keras: already an ensemble of 2 networks" in capsys.readouterr().err
    crop = tmp_path / "crop.keras"
    training.train([shard_dir], _config(epochs=1, seed=3, preprocess="crop"), crop, threads=1)
    assert main(["export-network", "--model", str(nets[0]), "--ensemble", str(crop),
                 "--out", str(tmp_path / "y.keras")]) == 2
    assert "crop.keras: preprocess 'crop', but he2020.keras's is 'bin2'" in capsys.readouterr().err
    assert not (tmp_path / "x.keras").exists() and not (tmp_path / "y.keras").exists()


def test_the_tf_data_pipelines_yield_the_streams_batches_in_order_without_autotuning(shard_dir):
    """``TrainingStream.datasets`` feeds Keras the stream's own batches, step by step over every epoch
    and validation batch by batch; autotuning is off (its thread held the end of one training in three
    for up to a minute: docs/performance.md) and the private thread pool has the threads asked for."""
    shards = ShardSet([shard_dir])
    train_rows, val_rows = split_rows(len(shards), 0.2, seed=5)
    stream = TrainingStream(shards, train_rows, val_rows, _config(batch_size=16))
    train_ds, val_ds = stream.datasets(1, 3, threads=3)
    for ds in (train_ds, val_ds):
        assert ds.options().autotune.enabled is False
        assert ds.options().deterministic is True
        assert ds.options().threading.private_threadpool_size == 3
    got = list(train_ds.as_numpy_iterator())
    assert len(got) == 2 * stream.n_batches  # epochs 2 and 3 of 3
    for k, (x, y, w) in enumerate(got):
        want = stream.train_batch(stream.n_batches + k)
        for part, expected in zip((x, y, w), want):
            np.testing.assert_array_equal(part, expected)
    val = list(val_ds.as_numpy_iterator())
    assert len(val) == stream.n_val_batches
    for k, (x, y) in enumerate(val):
        np.testing.assert_array_equal(x, stream.val_batch(k)[0])
        np.testing.assert_array_equal(y, stream.val_batch(k)[1])


def test_batch_pipeline_maps_its_steps_in_order_with_the_options_given():
    """``runtime.batch_pipeline``, which training and scoring share: ``load(step)`` for each step of the range,
    in order, with ``numpy_map``'s dtypes and shapes; autotuning off unless other options are given
    (benchmarks/pipeline_end.py's baseline turns it on)."""
    import tensorflow as tf

    from lensfinder.learning.runtime import batch_pipeline, data_options, numpy_map

    def batch(step):
        return np.full((2, 3), step, np.float32), np.array([step, -step], np.int32)

    load = numpy_map(batch, (tf.float32, tf.int32), ([None, 3], [None]))
    ds = batch_pipeline(range(2, 7), load, threads=3, buffer=1)
    assert ds.element_spec[0].shape.as_list() == [None, 3] and ds.element_spec[1].dtype == tf.int32
    assert ds.options().autotune.enabled is False and ds.options().threading.private_threadpool_size == 3
    got = list(ds.as_numpy_iterator())
    assert [int(x[0, 0]) for x, _ in got] == [2, 3, 4, 5, 6]
    assert [y.tolist() for _, y in got] == [[k, -k] for k in range(2, 7)]
    tuned = data_options(2)
    tuned.autotune.enabled = True
    assert batch_pipeline(range(3), load, 2, 2, tuned).options().autotune.enabled is True
