# Learning from the graders: retraining rounds (learning.rounds) and the
# calibration and rounds figures. Round k >= 1 fine-tunes every member of
# round k-1 on the grades so far (finetune_set, finetune), rescores the
# survey and the simulated test set (rescore), recalibrates, and writes and
# grades its inspection set, all under results/rounds/{k}/ with round 0's
# layout (the round_* rules are round 0's rules with round k's files). The ranked
# list comes from the last graded round; on the mock survey evaluate_rounds
# measures every round on the evaluation tiles (docs/learning.md).


rule figure_reliability:
    localrule: True
    input:
        reliability_tables(),
    output:
        report(figure("reliability"), caption="../report/reliability.rst", category="Network performance"),
    log:
        "results/logs/figures/reliability.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder learning-figures --kind reliability --inputs {input} --out {output} > {log} 2>&1"


if ROUNDS:

    rule finetune_set:
        input:
            unpack(finetune_inputs),
        output:
            cube=P.finetune_cube,
            table=P.finetune_table,
        params:
            options=finetune_set_options,
        log:
            "results/logs/rounds/{round}/finetune_set.log",
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder finetune-set --grades {input.grades} --known {input.known} --stamp-index {input.indexes} "
            "--stamp-cube {input.cubes} --sim-shards {input.sim_cubes} {params.options} "
            "--out {output.cube} > {log} 2>&1"

    rule finetune:
        input:
            unpack(parent_model),
            cube=P.finetune_cube,
            table=P.finetune_table,
        output:
            model=round_path(P.model, "{round}"),
            settings=round_path(P.model_settings, "{round}"),
            history=round_path(P.history, "{round}"),
        params:
            options=finetune_options,
        log:
            "results/logs/rounds/{round}/finetune/{net}.log",
        benchmark:
            "results/benchmarks/rounds/{round}/finetune/{net}.tsv"
        threads: config["training"]["threads"]
        resources:
            mem_mb=4000,
            gpu=config["training"]["gpus"],
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder finetune --model {input.parent} --shards {input.cube} --out {output.model} "
            "--history {output.history} {params.options} --threads {threads} > {log} 2>&1"

    # One job per network and round scores every tile and the simulated test set
    # (TensorFlow starts once, not once per tile).
    rule rescore:
        input:
            cubes=expand(P.stamp_cube, tile=TILES),
            indexes=expand(P.stamp_index, tile=TILES),
            test_cubes=sim_files("test", "fits"),
            test_meta=sim_files("test", "parquet"),
            model=round_path(P.model, "{round}"),
            settings=round_path(P.model_settings, "{round}"),
        output:
            tiles=expand(round_path(P.member_predictions, "{round}"), tile=TILES, allow_missing=True),
            test=expand(round_path(P.test_predictions, "{round}"), shard=sim_shards("test"), allow_missing=True),
        params:
            batch_size=config["inference"]["batch_size"],
            tta=config["inference"]["tta"],
        log:
            "results/logs/rounds/{round}/rescore/{net}.log",
        benchmark:
            "results/benchmarks/rounds/{round}/rescore/{net}.tsv"
        threads: config["training"]["threads"]
        resources:
            mem_mb=4000,
            gpu=config["training"]["gpus"],
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder rescore --model {input.model} --stamps {input.cubes} {input.test_cubes} "
            "--index {input.indexes} {input.test_meta} --out {output.tiles} {output.test} "
            "--batch-size {params.batch_size} --tta {params.tta} --threads {threads} > {log} 2>&1"

    use rule calibrate as round_calibrate with:
        input:
            predictions=member_test_predictions("{round}"),
            labels=sim_files("test", "parquet"),
        output:
            calibration=round_path(P.calibration, "{round}"),
            summary=round_path(P.calibration_summary, "{round}"),
            summary_csv=round_path(P.calibration_csv, "{round}"),
            reliability=round_path(P.reliability, "{round}"),
            reliability_csv=round_path(P.reliability_csv, "{round}"),
        log:
            "results/logs/rounds/{round}/calibrate.log",

    use rule combine_scores as round_combine_scores with:
        input:
            predictions=member_tile_predictions("{round}"),
            calibration=round_path(P.calibration, "{round}"),
        output:
            round_path(P.predictions, "{round}"),
        log:
            "results/logs/rounds/{round}/combine_scores/{net}_{tile}.log",

    use rule candidates as round_candidates with:
        input:
            predictions=expand(round_path(P.predictions, "{round}"), net=NET, tile=TILES, allow_missing=True),
            indexes=expand(P.stamp_index, tile=TILES),
            cubes=expand(P.stamp_cube, tile=TILES),
            catalog=P.catalog,
            sim_cubes=mix_sim_files("fits"),
            sim_meta=mix_sim_files("parquet"),
        output:
            candidates=round_path(P.candidates, "{round}"),
            known=round_path(P.known, "{round}"),
            manifest=round_path(P.manifest, "{round}"),
            manifest_csv=round_path(P.manifest_csv, "{round}"),
            png=directory(round_path(P.inspect_png, "{round}")),
            stamps=expand(round_path(P.inspect_band_stamps, "{round}"), band=BANDS, allow_missing=True),
            mosaic=round_path(P.mosaic, "{round}"),
        log:
            "results/logs/rounds/{round}/candidates.log",

    if SIMULATED_INSPECTORS:

        # The simulated inspectors of inspect.smk, grading round k's set.
        use rule mock_grades as round_mock_grades with:
            localrule: True
            input:
                manifest=round_path(P.manifest, "{round}"),
                truth=truth_files(),
                known=round_path(P.known, "{round}"),
            output:
                round_path(P.mock_grades, "{round}"),
            log:
                "results/logs/rounds/{round}/mock_grades.log",


if RANKED_ROUND:

    use rule crossmatch as round_crossmatch with:
        localrule: True
        input:
            round_path(P.candidates, "{round}"),
        output:
            round_path(P.crossmatch, "{round}"),
        log:
            "results/logs/rounds/{round}/crossmatch.log",

    # The ranked list of the last graded round replaces round 0's.
    use rule merge_scores as round_merge_scores with:
        localrule: True
        input:
            predictions=round_path(P.candidates, RANKED_ROUND),
            grades=round_grades(RANKED_ROUND),
            catalog=P.catalog,
            crossmatch=round_path(P.crossmatch, RANKED_ROUND),
            known=round_path(P.known, RANKED_ROUND),
            manifest=round_path(P.manifest, RANKED_ROUND),
            png=round_path(P.inspect_png, RANKED_ROUND),
            notes=notes_files(),
        log:
            "results/logs/rounds/merge_scores.log",

    ruleorder: round_merge_scores > merge_scores


if ROUNDS and EVAL_TILES:

    # Reads the mock survey's truth: evaluation only.
    rule evaluate_rounds:
        input:
            unpack(rounds_evaluation_inputs),
        output:
            table=P.rounds,
            csv=report(P.rounds_csv, caption="../report/rounds.rst", category="Network performance"),
        params:
            predictions=rounds_prediction_options,
            thresholds=threshold_options(),
        log:
            "results/logs/evaluate_rounds.log",
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder evaluate-rounds {params.predictions} --stamp-index {input.indexes} --truth {input.truth} "
            "--training-sets {input.sets} {params.thresholds} --out {output.table} > {log} 2>&1"

    rule figure_rounds:
        localrule: True
        input:
            P.rounds,
        output:
            report(figure("rounds"), caption="../report/rounds_figure.rst", category="Network performance"),
        log:
            "results/logs/figures/rounds.log",
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder learning-figures --kind rounds --inputs {input} --out {output} > {log} 2>&1"
