"""config/pretrained.yaml, which searches with a network trained once (config/search_large.yaml's,
exported to results/networks) instead of training: the run plans to keep it as it is, and refuses a
network of other bands, or epochs 0 without one, at the dry run (every refusal is tested in process in
tests/learning/test_init_weights.py). (Starting from a network, epochs 0 and `lensfinder export-network`
themselves are tested in tests/learning/test_training.py.)"""

from __future__ import annotations

import json
import re
import shlex

import yaml
from helpers.early_runs import early_test
from helpers.workflow_run import REPO, copy_workflow, snakemake


#: config/pretrained.yaml
PRETRAINED = yaml.safe_load((REPO / "config" / "pretrained.yaml").read_text())


@early_test(25)
def test_pretrained_config_plans_no_training_and_the_default_plans_one(tmp_path, pretrained=PRETRAINED):
    """A dry run with config/pretrained.yaml: one `train` job, 0 epochs from the exported network (an
    input, so replacing it reruns the job), over the smaller training set; the default's has no init
    weights. Other bands than the network's, or epochs 0 without a network, stop the dry run naming the
    key; without the network's sidecar the plan stops, naming it. A dry run reads only the sidecar (the
    settings `lensfinder train` writes for search_large's network), so the weights file is a stand-in.
    `export_network` with search_large's files plans to write the network where config/pretrained.yaml
    reads it, with the config files and simulation in its provenance."""
    workdir = copy_workflow(tmp_path)
    # the network it keeps is exported by a target of the run that trains it, to the path it names
    # (planned before the stand-in below is there)
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/search.yaml",
                     "config/search_large.yaml", "--", "export_network").stdout
    (export,) = [shlex.split(line.strip().removeprefix("Shell command: ")) for line in plan.splitlines()
                 if "lensfinder export-network " in line]
    assert export[export.index("--out") + 1] == pretrained["training"]["init_weights"]
    assert export[export.index("--model") + 1] == "results/models/he2020.keras"
    provenance = json.loads(export[export.index("--provenance-json") + 1])
    assert provenance["configfiles"] == ["config/search.yaml", "config/search_large.yaml"]
    assert provenance["simulation"]["train"]["n_images"] == 96000
    assert provenance["simulation"]["member_params"]["broad"]["field_galaxies"] == [0, 2]

    network = workdir / pretrained["training"]["init_weights"]
    network.parent.mkdir(parents=True)
    network.write_bytes(b"stand-in: a dry run does not load it")
    sidecar = network.with_suffix(".json")
    sidecar.write_text(json.dumps({"model": "he2020", "input_shape": [49, 49, 8], "bands": ["g", "r", "i"],
                                   "colour_residual": ["g", "r"], "colour_residual_match": "psf",
                                   "preprocess": "bin2_crop", "normalization": "sky", "stamp_size": 101}))

    def trainings(*args, target="results/models/he2020.keras"):
        plan = snakemake(workdir, "-n", "-p", "--cores", "1", *args, "--", target).stdout
        return [line.strip().removeprefix("Shell command: ") for line in plan.splitlines()
                if "lensfinder train " in line]

    (train,) = trainings("--configfile", "config/pretrained.yaml")
    assert f"--init-weights {pretrained['training']['init_weights']} " in train and "--epochs 0 " in train
    n_train = pretrained["simulation"]["sets"]["train"]["n_shards"]
    assert len(re.search(r"--shards (.*?) --", train).group(1).split()) == n_train
    default, *copies = trainings()  # the default's network, and its copies fine-tuned on neighbours (training.soup)
    assert "--init-weights" not in default and "--epochs 12 " in default
    assert len(copies) == 2
    for copy in copies:
        assert "--init-weights results/models/soup/he2020/trained.keras " in copy and "--epochs 3 " in copy
    (dr4,) = trainings("--configfile", "config/kids_dr4.yaml", "config/pretrained.yaml")  # over ResNet-18's file
    for key in ("model", "preprocess", "normalization", "epochs"):
        assert f"--{key} {pretrained['training'][key]} " in dr4, key
    assert f"--init-weights {pretrained['training']['init_weights']} " in dr4
    # domain_shift scores the kept network beside networks of its own, trained from scratch for the default epochs
    experiment = trainings("--configfile", "config/pretrained.yaml", target="domain_shift")
    kept = [command for command in experiment if "--init-weights" in command]
    assert len(kept) == 1 and "--epochs 0 " in kept[0] and len(experiment) > 1
    assert all("--epochs 12 " in command for command in experiment if command not in kept)

    # every refusal is tested in process (tests/learning/test_init_weights.py); here the workflow's call
    for layered, message in (({"bands": ["r"]}, "holds a network with bands ['g', 'r', 'i'], but this run's bands "
                                                "is ['r']"),
                             ({"training": {"init_weights": None}}, "training.epochs 0 keeps the network given as "
                                                                    "training.init_weights (or the member's "
                                                                    "init_weights), but network he2020 has none")):
        (workdir / "config" / "other.yaml").write_text(yaml.safe_dump(layered))
        result = snakemake(workdir, "-n", "--cores", "1", "--configfile", "config/pretrained.yaml",
                           "config/other.yaml", check=False)
        assert result.returncode != 0 and message in result.stdout + result.stderr, message

    # the run that keeps the network cannot export over it, however the path is written
    (workdir / "config" / "other.yaml").write_text(yaml.safe_dump({"training": {"init_weights": str(network)}}))
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", "config/pretrained.yaml", "config/other.yaml",
                       "--", "export_network", check=False)
    assert result.returncode != 0 and "the file the export would write" in result.stdout + result.stderr

    sidecar.unlink()
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", "config/pretrained.yaml", check=False)
    assert result.returncode != 0 and sidecar.name in result.stdout + result.stderr


@early_test(11)
def test_an_exported_pair_is_kept_member_by_member(tmp_path, pretrained=PRETRAINED):
    """`inference.ensemble` members with init_weights of their own (an exported pair): each `train` job keeps
    its own network (epochs 0), and domain_shift scores their mean; one file kept by two members (two
    identical networks) or a member whose network is another architecture stop the dry run, naming the
    members or the key (an ensemble exported as one file too: tests/learning/test_init_weights.py).
    `export_network` of a two-network run also plans the pair as one file."""
    workdir = copy_workflow(tmp_path)
    networks = {}
    for name, model in (("he2020", "he2020"), ("he2020_half_s43", "he2020_half")):
        network = workdir / "results" / "networks" / f"{name}_kids_gri.keras"
        network.parent.mkdir(parents=True, exist_ok=True)
        network.write_bytes(b"stand-in: a dry run does not load it")
        network.with_suffix(".json").write_text(json.dumps({
            "model": model, "input_shape": [49, 49, 8], "bands": ["g", "r", "i"], "colour_residual": ["g", "r"],
            "colour_residual_match": "psf", "preprocess": "bin2_crop", "normalization": "sky", "stamp_size": 101}))
        networks[name] = str(network.relative_to(workdir))

    def plan(ensemble, target="domain_shift"):
        (workdir / "config" / "pair.yaml").write_text(yaml.safe_dump({"inference": {"ensemble": ensemble}}))
        return snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/pretrained.yaml",
                         "config/pair.yaml", "--", target, check=False)

    pair = [{"model": "he2020", "seed": 42, "init_weights": networks["he2020"]},
            {"model": "he2020_half", "seed": 43, "init_weights": networks["he2020_half_s43"]}]
    result = plan(pair)
    assert result.returncode == 0, result.stderr[-3000:]
    kept = {re.search(r"--out (\S+)", line).group(1): re.search(r"--init-weights (\S+)", line).group(1)
            for line in result.stdout.splitlines() if "lensfinder train " in line and "--init-weights" in line}
    assert kept == {"results/models/he2020.keras": networks["he2020"],
                    "results/models/he2020_half_s43.keras": networks["he2020_half_s43"]}
    assert all("--epochs 0 " in line for line in result.stdout.splitlines()
               if "lensfinder train " in line and "--init-weights" in line)
    # domain_shift scores each kept network, and their mean from those scores
    assert "lensfinder infer --stamps results/experiments/domain_shift/sets/independent/shard_000.fits --index " \
           "results/experiments/domain_shift/sets/independent/shard_000.parquet --model " \
           "results/models/he2020_half_s43.keras " in result.stdout
    assert "/scores/he2020_half_s43/independent/shard_000.parquet --calibration none " in result.stdout
    # training.init_weights (config/pretrained.yaml's) for a member without its own
    result = plan([pair[0], {"model": "he2020", "seed": 43}])
    assert result.returncode != 0
    assert (f"networks he2020 and he2020_s43 would both keep {networks['he2020']} as it is"
            in result.stdout + result.stderr)
    # export_network of a run with two networks also writes them as one file, which a run cannot keep
    (workdir / "config" / "two.yaml").write_text(yaml.safe_dump({"inference": {"ensemble": [{"seed": 42},
                                                                                            {"seed": 43}]}}))
    export = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/search.yaml",
                       "config/search_large.yaml", "config/two.yaml", "--", "export_network").stdout
    assert ("lensfinder export-network --model results/models/he2020.keras --ensemble "
            "results/models/he2020_s43.keras --out results/networks/ensemble_kids_gri.keras" in export)
    result = plan([{"model": "he2020_half", "seed": 42, "init_weights": networks["he2020"]}, pair[1]])
    assert result.returncode != 0
    assert ("inference.ensemble init_weights of he2020_half: " + networks["he2020"] +
            " holds a network with model 'he2020'") in result.stdout + result.stderr
