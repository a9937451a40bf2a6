# Learning from the graders: retraining rounds (learning.rounds) and the
# calibration and rounds figures. Round k >= 1 fine-tunes every member of
# round k-1 on the grades so far (finetune_set, finetune), rescores the
# survey (rescore) and the simulated test set (round_infer_test), recalibrates, and writes and
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
            threads=config["training"]["threads"],  # TensorFlow's: the weights depend on it
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
            "--history {output.history} {params.options} --threads {params.threads} > {log} 2>&1"

    # Round k's network scores the survey as round 0's does: about inference.tiles_per_job
    # tiles per job (INFER_CHUNKS), and the simulated test set shard by shard.
    use rule infer as rescore with:
        input:
            cubes=chunk_files(P.stamp_cube),
            indexes=chunk_files(P.stamp_index),
            model=round_path(P.model, "{round}"),
            settings=round_path(P.model_settings, "{round}"),
        output:
            round_path(P.member_chunk, "{round}"),
        log:
            "results/logs/rounds/{round}/rescore/{net}_{chunk}.log",
        benchmark:
            "results/benchmarks/rounds/{round}/rescore/{net}_{chunk}.tsv"

    use rule infer_test as round_infer_test with:
        input:
            cube=sim_path(P.sim_cube, "test"),
            index=sim_path(P.sim_meta, "test"),
            model=round_path(P.model, "{round}"),
            settings=round_path(P.model_settings, "{round}"),
        output:
            round_path(P.test_predictions, "{round}"),
        log:
            "results/logs/rounds/{round}/infer_test/{net}_{shard}.log",

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
        localrule: True  # `use rule` does not carry it over
        input:
            predictions=member_chunk_predictions("{round}"),
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
            tiles=TILE_NAMES,
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
        params:
            predictions=tile_pattern(round_path(P.predictions, "{round}"), net=NET),
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
                positions=round_path(P.candidates, "{round}"),
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
