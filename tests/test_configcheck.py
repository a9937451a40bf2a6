"""A configuration that breaks the workflow's schema is named in one line (lensfinder.configcheck)."""

import yaml
import pytest
from snakemake.utils import update_config

from lensfinder.configcheck import schema_problem, setting_source


@pytest.fixture(scope="module")
def schema_path(repo_root):
    return repo_root / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def default_config(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def _with(config, path, value):
    """A deep copy of ``config`` with ``value`` at the dotted ``path``."""
    config = yaml.safe_load(yaml.safe_dump(config))
    node = config
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


def test_the_shipped_configurations_pass(repo_root, schema_path, default_config):
    assert schema_problem(default_config, schema_path) is None
    for name in ("search.yaml", "search_large.yaml", "pretrained.yaml", "kids_dr4.yaml", "test.yaml"):
        layered = yaml.safe_load((repo_root / "config" / name).read_text())
        merged = yaml.safe_load(yaml.safe_dump(default_config))
        update_config(merged, layered)  # as snakemake layers --configfile over config/config.yaml
        assert schema_problem(merged, schema_path) is None, name


def test_a_misspelt_key_is_named_with_the_nearest_real_one(schema_path, default_config):
    config = _with(default_config, "training.learnin_rate", 0.01)
    problem = schema_problem(config, schema_path)
    assert problem.startswith("config: training.learnin_rate: unknown key 'learnin_rate'")
    assert "(did you mean 'learning_rate'?)" in problem
    assert "batch_size" in problem and "epochs" in problem  # the keys that exist there
    assert "\n" not in problem


def test_a_key_far_from_every_real_one_gets_no_guess(schema_path, default_config):
    problem = schema_problem({**default_config, "zzzzzz": 1}, schema_path)
    assert problem.startswith("config: zzzzzz: unknown key 'zzzzzz';")
    assert "did you mean" not in problem


def test_a_wrong_type_names_the_type_bounds_and_default(schema_path, default_config):
    problem = schema_problem(_with(default_config, "training.epochs", "two"), schema_path)
    assert problem.startswith("config: training.epochs: 'two' is not of type 'integer'")
    assert "expected integer, >= 0; the default: 12" in problem


def test_a_value_out_of_range_or_not_allowed(schema_path, default_config):
    problem = schema_problem(_with(default_config, "simulation.mix", {"broad": -1}), schema_path)
    assert problem.startswith("config: simulation.mix.broad: -1 is less than the minimum of 0")
    problem = schema_problem(_with(default_config, "inference.tta", "all"), schema_path)
    assert problem.startswith("config: inference.tta: 'all' is not one of ['none', 'dihedral']")
    assert "the default: 'dihedral'" in problem
    # a simulated set's name: a path component, and not a key of `simulation` (the provenance lists both)
    sets = {"train": {"n_images": 2, "n_shards": 1, "seed": 1}, "test": {"n_images": 2, "n_shards": 1, "seed": 2}}
    problem = schema_problem(_with(default_config, "simulation.sets", {**sets, "params": sets["train"]}), schema_path)
    assert problem.startswith("config: simulation.sets: 'params' is not allowed here; expected a name other than a "
                              "key of simulation")
    problem = schema_problem(_with(default_config, "simulation.sets", {**sets, "a/b": sets["train"]}), schema_path)
    assert problem.startswith("config: simulation.sets: 'a/b' does not match '^[A-Za-z][A-Za-z0-9_]*$'")


def test_alternatives_and_null_defaults_are_written_as_in_the_files(schema_path, default_config):
    problem = schema_problem(_with(default_config, "kids.tiles", "some"), schema_path)
    assert problem.startswith("config: kids.tiles: 'some' is not valid under any of the given schemas; "
                              "expected array or 'all'; the default: []")
    problem = schema_problem({**default_config, "bands": "g"}, schema_path)
    assert "expected array or null; the default: null" in problem


def test_a_list_item_is_named_by_its_index(schema_path, default_config):
    problem = schema_problem(_with(default_config, "kids.tiles", ["KIDS_1.0_-31.2", "FOO"]), schema_path)
    assert problem.startswith("config: kids.tiles[1]: 'FOO' does not match '^KIDS_'")


def test_the_source_that_set_the_key_is_named(tmp_path, schema_path, default_config):
    base = tmp_path / "base.yaml"
    base.write_text("training: {epochs: 3}\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("training: {epochs: two}\nseed: 1\n")
    config = _with(default_config, "training.epochs", "two")
    problem = schema_problem(config, schema_path, [base, mine])
    assert f"(set in {mine};" in problem  # the last file that sets it, given as it was named
    assert setting_source(["training", "epochs"], [mine, base]) == str(base)  # the later file wins
    assert setting_source(["training", "epochs"], [base, mine], {"training": {"epochs": 5}}) == "--config"
    assert setting_source(["training", "batch_size"], [base, mine]) is None
    assert setting_source(["kids", "tiles", 1], [], {"kids": {"tiles": ["A", "B"]}}) == "--config"
    assert setting_source(["kids", "tiles", 2], [], {"kids": {"tiles": ["A", "B"]}}) is None
    assert setting_source(["seed"], [tmp_path / "missing.yaml", mine]) == str(mine)  # unreadable files passed over


def test_a_block_with_its_own_schema_is_named_from_the_top(tmp_path, repo_root):
    mine = tmp_path / "mine.yaml"
    mine.write_text("experiments: {psf_test: {factorz: [1.0]}}\n")
    block = {"psf_test": {"factorz": [1.0]}}
    problem = schema_problem(block, repo_root / "workflow" / "schemas" / "experiments.schema.yaml", [mine],
                             prefix=["experiments"])
    assert problem.startswith("config: experiments.psf_test.factorz: unknown key 'factorz' (did you mean 'factors'?)")
    assert f"(set in {mine};" in problem and "experiments.schema.yaml" in problem


def test_the_schemas_list_every_simulation_recipe(repo_root, schema_path, default_config):
    """The schemas name the recipes once each ($defs), and that list is RECIPES (plus, for domain_shift's
    training sets, the independent renderer): a recipe added in Python is not refused by the dry run, and
    every place that takes a recipe refuses a wrong one, naming the recipes."""
    from lensfinder.simulation.recipes import RECIPES

    def enums(node):
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list) and "broad" in node["enum"]:
                yield node["enum"]
            for value in node.values():
                yield from enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from enums(value)

    schema = yaml.safe_load(schema_path.read_text())
    assert list(enums(schema)) == [schema["$defs"]["recipe"]["enum"]]
    assert sorted(schema["$defs"]["recipe"]["enum"]) == sorted(RECIPES)
    experiments = yaml.safe_load((schema_path.parent / "experiments.schema.yaml").read_text())
    assert list(enums(experiments)) == [experiments["$defs"]["ds_recipe"]["enum"]]
    assert sorted(experiments["$defs"]["ds_recipe"]["enum"]) == sorted([*RECIPES, "independent"])

    named = f"'brod' is not one of {schema['$defs']['recipe']['enum']}"
    for path, value in (("simulation.recipe", "brod"), ("simulation.mix", {"brod": 1.0}),
                        ("simulation.member_params", {"brod": {}}),
                        ("simulation.sets.train.member_params", {"brod": {}})):
        config = _with(default_config, path, value)
        if path.startswith("simulation.sets"):
            config["simulation"]["sets"]["train"].update(n_images=100, n_shards=1, seed=1)
        problem = schema_problem(config, schema_path)
        assert problem is not None and problem.startswith(f"config: {path}: {named}"), problem
        # the shared definition has no default: the key that refers to it gives its own
        assert ("; the default: 'broad'" in problem) == (path == "simulation.recipe"), problem
    for recipe in RECIPES:
        assert schema_problem(_with(default_config, "simulation.mix", {recipe: 1.0}), schema_path) is None


def test_numbers_that_reached_a_nested_key_as_text_get_the_configfile_hint(schema_path, default_config):
    # Snakemake's --config reads "training={'epochs': 6}" with YAML's base loader: the 6 arrives as '6'
    config = _with(default_config, "training.epochs", "6")
    problem = schema_problem(config, schema_path, overrides={"training": {"epochs": "6"}})
    assert problem.startswith("config: training.epochs: '6' is not of type 'integer'")
    assert "give them in a YAML file with --configfile" in problem and "(set in --config;" in problem
    # the same text from a file was written as text there, and a word is not a number read as text
    assert "--configfile" not in schema_problem(config, schema_path)
    worded = _with(default_config, "training.epochs", "six")
    assert "--configfile" not in schema_problem(worded, schema_path, overrides={"training": {"epochs": "six"}})

