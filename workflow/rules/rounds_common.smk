# Helpers of learning from the graders: ensembles, calibration and retraining rounds
# (docs/learning.md; rules in infer.smk and rounds.smk). Round 0 is the search; retraining round
# k >= 1 fine-tunes round k-1's networks on the grades so far and keeps round 0's layout under
# results/rounds/{k}/. Included by the Snakefile after training_common.smk.


LEARNING = config["learning"]
#: the mock survey's simulated inspectors grade every round's inspection set
SIMULATED_INSPECTORS = SURVEY == "mock" and not config["inspection"]["grades"]


def graded_rounds():
    """How many rounds' inspection sets have grades: all with simulated inspectors, else the files given."""
    if SIMULATED_INSPECTORS:
        return LEARNING["rounds"] + 1
    if not config["inspection"]["grades"]:
        if LEARNING["grades"]:
            raise ValueError("config: learning.grades lists the grades of later rounds, but inspection.grades "
                             "(round 0's) is null; set inspection.grades first")
        return 0
    return 1 + len(LEARNING["grades"])


if SIMULATED_INSPECTORS and LEARNING["grades"]:
    raise ValueError(f"config: learning.grades{config_source('learning', 'grades')}: the mock survey's simulated "
                     "inspectors grade every round while inspection.grades is null, so these files would be "
                     "ignored; set inspection.grades (round 0's grades) to grade with your own, or remove "
                     "learning.grades")
# A later round's grades file that is not there would leave its round without a producer, and the ranked
# list would quietly come from an earlier round: stop here, as for inspection.grades.
for _k, _grades in enumerate(LEARNING["grades"] if config["inspection"]["grades"] else [], start=1):
    check_grades_file(_grades, f"learning.grades[{_k - 1}]", f"round {_k}'s grades")
if len(LEARNING["grades"]) > LEARNING["rounds"]:
    from snakemake.logging import logger

    logger.warning(f"learning.grades lists {len(LEARNING['grades'])} files but learning.rounds is "
                   f"{LEARNING['rounds']}: the grades of rounds beyond {LEARNING['rounds']} "
                   f"({', '.join(map(str, LEARNING['grades'][LEARNING['rounds']:]))}) are not used; raise "
                   "learning.rounds to train on them")

#: retraining rounds that run: round k trains on the grades of rounds 0 .. k-1
ROUNDS = min(LEARNING["rounds"], graded_rounds())
if ROUNDS < LEARNING["rounds"]:
    from snakemake.logging import logger

    logger.warning(f"learning.rounds is {LEARNING['rounds']}, but {graded_rounds()} round(s) have grades "
                   f"(inspection.grades, learning.grades): running {ROUNDS} retraining round(s)")
#: the round whose inspection set and grades make the ranked list: the last one with grades
RANKED_ROUND = ROUNDS if SIMULATED_INSPECTORS else max(0, min(ROUNDS, graded_rounds() - 1))
#: mock survey: the last learning.eval_tiles tiles are never trained on, only evaluated
EVAL_TILES = TILES[len(TILES) - LEARNING["eval_tiles"]:] if SURVEY == "mock" and ROUNDS and LEARNING["eval_tiles"] else []
if EVAL_TILES and len(EVAL_TILES) >= len(TILES):
    raise ValueError(f"config: learning.eval_tiles is {LEARNING['eval_tiles']}, which leaves none of the "
                     f"{len(TILES)} mock tiles to search and train on; set it below mock.n_tiles")
SEARCH_TILES = [t for t in TILES if t not in EVAL_TILES]


def round_path(path, k):
    """Round ``k``'s file of a round-0 path: results/X -> results/rounds/{k}/X (``k`` may be "{round}")."""
    return path if str(k) == "0" else path.replace(f"{RESULTS}/", f"{RESULTS}/rounds/{k}/", 1)


def round_grades(k):
    """The grades of round ``k``'s inspection set."""
    if k == 0:
        return grades_file()
    return round_path(P.mock_grades, k) if SIMULATED_INSPECTORS else LEARNING["grades"][k - 1]


def member_model(wildcards):
    """Network of an ensemble member (`lensfinder train --model`)."""
    return MEMBERS[wildcards.net].model


def member_seed(wildcards):
    """Training seed of an ensemble member."""
    return MEMBERS[wildcards.net].seed


def parent_model(wildcards):
    """The network a round fine-tunes: the member's model of the round before."""
    k = int(wildcards.round) - 1
    return {"parent": round_path(P.model, k).format(net=wildcards.net),
            "parent_settings": round_path(P.model_settings, k).format(net=wildcards.net)}


def member_test_predictions(k):
    """Every member's scores of the simulated test set in round ``k`` (``k`` may be "{round}")."""
    return expand(round_path(P.test_predictions, k), net=list(MEMBERS), shard=sim_shards("test"), allow_missing=True)


def member_chunk_predictions(k):
    """Input function: every member's table, in round ``k`` (may be "{round}"), of the scoring job that
    holds the tile (combine-scores picks its rows with --shard)."""

    def tables(wildcards):
        k_ = wildcards.round if str(k) == "{round}" else k
        return expand(round_path(P.member_chunk, k_), net=list(MEMBERS), chunk=tile_chunk(wildcards))

    return tables


def finetune_inputs(wildcards):
    """Grades and inspection sets of the rounds before, the search tiles' stamps, simulations to mix in."""
    k = int(wildcards.round)
    return {
        "grades": [round_grades(j) for j in range(k)],
        "known": [round_path(P.known, j) for j in range(k)],
        "indexes": expand(P.stamp_index, tile=SEARCH_TILES),
        "cubes": expand(P.stamp_cube, tile=SEARCH_TILES),
        "sim_cubes": sim_files("train", "fits") if LEARNING["sim_ratio"] > 0 else [],
        "sim_meta": sim_files("train", "parquet") if LEARNING["sim_ratio"] > 0 else [],
    }


def finetune_set_options(wildcards):
    """`lensfinder finetune-set` options from config (seeded per round)."""
    return (f"--scheme {config['inspection']['scheme']} --n-random-negatives {LEARNING['n_random_negatives']} "
            f"--graded-copies {LEARNING['graded_copies']} --sim-ratio {LEARNING['sim_ratio']} "
            f"--seed {config['seed'] + int(wildcards.round)}")


def finetune_options(wildcards):
    """`lensfinder finetune` options from config; the member's seed, moved on per round."""
    return (f"--epochs {LEARNING['epochs']} --learning-rate {LEARNING['learning_rate']} "
            f"{'--freeze-features' if LEARNING['freeze_features'] else '--no-freeze-features'} "
            f"--batch-size {config['training']['batch_size']} --precision {config['training']['precision']} "
            f"{'--augment' if config['training']['augment'] else '--no-augment'} "
            f"--seed {member_seed(wildcards) + int(wildcards.round)}")


def rounds_evaluation_inputs(wildcards=None):
    """Each round's combined scores of the evaluation tiles, their stamps and truth, the fine-tuning sets."""
    inputs = {f"round_{k}": expand(round_path(P.predictions, k), net=NET, tile=EVAL_TILES) for k in range(ROUNDS + 1)}
    inputs.update(indexes=expand(P.stamp_index, tile=EVAL_TILES), truth=expand(P.truth, tile=EVAL_TILES),
                  sets=[P.finetune_table.format(round=k) for k in range(1, ROUNDS + 1)])
    return inputs


def rounds_prediction_options(wildcards, input):
    """`--predictions ...` once per round, round 0 first."""
    return " ".join(f"--predictions {' '.join(input[f'round_{k}'])}" for k in range(ROUNDS + 1))


def reliability_tables(wildcards=None):
    """Reliability and calibration-summary tables of every round, in pairs."""
    return [path for k in range(ROUNDS + 1)
            for path in (round_path(P.reliability, k), round_path(P.calibration_summary, k))]


def learning_targets():
    """Calibration, the last round's inspection set and, on the mock survey, the rounds' evaluation."""
    targets = [P.calibration_csv, figure("reliability")]
    if ROUNDS:
        targets.append(round_path(P.manifest_csv, ROUNDS))
    if ROUNDS and EVAL_TILES:
        targets += [P.rounds_csv, figure("rounds")]
    return targets
