# Stage 5: train the CNN on the simulated training set (each member of an
# ensemble, inference.ensemble, with its own network and seed, and its own set
# where it names one: train_set). Half the job's memory (resources mem_mb,
# which a cluster profile may raise) keeps the images' prepared network inputs
# between epochs (lensfinder train --cache-mb). With training.soup (the
# default) copies of the trained network are fine-tuned on the soup's set, each
# with its own seed, and the networks' weights averaged into
# results/models/{net}.keras (docs/learning.md).


rule train:
    input:
        cubes=member_sim_files("fits"),
        meta=member_sim_files("parquet"),
        init=init_weights_files,
    output:
        model=P.soup_trained if SOUP else P.model,
        settings=P.soup_trained_settings if SOUP else P.model_settings,
        history=P.history,
    params:
        options=training_options(),
        init=init_weights_option,
        model=member_model,
        seed=member_seed,
        checkpoints=P.checkpoints,
        threads=config["training"]["threads"],  # TensorFlow's: the weights depend on it; `threads:` (capped by --cores) schedules
    log:
        "results/logs/train/{net}.log",
    benchmark:
        "results/benchmarks/train/{net}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=config["training"]["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder train --shards {input.cubes} --model {params.model} --out {output.model} "
        "--history {output.history} --checkpoint-dir {params.checkpoints} {params.options} {params.init} "
        "--seed {params.seed} --threads {params.threads} --cache-mb $(({resources.mem_mb} / 2)) > {log} 2>&1"


if SOUP:

    rule soup_finetune:
        input:
            trained=P.soup_trained,
            settings=P.soup_trained_settings,
            cubes=sim_files(SOUP["train_set"], "fits"),
            meta=sim_files(SOUP["train_set"], "parquet"),
        output:
            model=P.soup_finetuned,
            settings=P.soup_finetuned_settings,
            history=P.soup_history,
        params:
            options=training_options(soup=True),
            model=member_model,
            seed=soup_copy_seed,
            checkpoints=P.soup_checkpoints,
            threads=config["training"]["threads"],
        log:
            "results/logs/soup_finetune/{net}_{soup_copy}.log",
        benchmark:
            "results/benchmarks/soup_finetune/{net}_{soup_copy}.tsv"
        threads: config["training"]["threads"]
        resources:
            mem_mb=6000,
            runtime=120,
            gpu=config["training"]["gpus"],
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder train --shards {input.cubes} --model {params.model} --out {output.model} "
            "--history {output.history} --checkpoint-dir {params.checkpoints} {params.options} "
            "--init-weights {input.trained} --seed {params.seed} --threads {params.threads} "
            "--cache-mb $(({resources.mem_mb} / 2)) > {log} 2>&1"

    rule soup:
        input:
            trained=P.soup_trained,
            finetuned=soup_finetuned_files,
            settings=soup_settings_files,
        output:
            model=P.model,
            settings=P.model_settings,
        params:
            shares=soup_shares,
        log:
            "results/logs/soup/{net}.log",
        resources:
            mem_mb=2000,
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder average-networks --models {input.trained} {input.finetuned} --shares {params.shares} "
            "--out {output.model} > {log} 2>&1"


# Export the search's networks for other runs to start from (training.init_weights;
# config/pretrained.yaml): results/networks/{net}_{preset}_{bands}.keras, the
# weights without the optimiser's state, the sidecar with a `provenance` object
# (the config files and simulation that made it), the learning curve:
#   snakemake --cores all --configfile config/search.yaml config/search_large.yaml -- export_network


rule export_network:
    input:
        exported_networks,


if not EXPORT_CLASH:  # else the network the run starts from would be an output of its own training

    rule export_member:
        input:
            model=P.model,
            settings=P.model_settings,
            history=P.history,
        output:
            model=P.network,
            settings=P.network_settings,
            history=P.network_history,
        params:
            provenance=network_provenance,
        log:
            "results/logs/export_network/{net}.log",
        resources:
            mem_mb=2000,
        conda:
            "../../envs/learn.yaml"
        shell:
            "lensfinder export-network --model {input.model} --out {output.model} "
            "--provenance-json {params.provenance:q} > {log} 2>&1"

    if ENSEMBLE_NETWORK:

        rule export_ensemble:
            input:
                models=expand(P.model, net=list(MEMBERS)),
                settings=expand(P.model_settings, net=list(MEMBERS)),
            output:
                model=ENSEMBLE_NETWORK,
                settings=P.network_settings.format(net="ensemble"),
            params:
                models=ensemble_models_option,
                provenance=network_provenance,
            log:
                "results/logs/export_network/ensemble.log",
            resources:
                mem_mb=3000,
            conda:
                "../../envs/learn.yaml"
            shell:
                "lensfinder export-network {params.models} --out {output.model} "
                "--provenance-json {params.provenance:q} > {log} 2>&1"
