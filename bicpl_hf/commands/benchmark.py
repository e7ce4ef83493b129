"""`bicpl benchmark` (synthetic benchmark, cached, over seeds) and the `--seeds` path of `bicpl experiments`.

Example (CPU; add `--device cuda` and larger sizes on a GPU, see benchmarks/README.md):

```
bicpl benchmark --seeds 0 1 2 --held-out 2 --n-exams 600 --cache-dir bicpl_benchmark_cache --output-dir bench_out
bicpl experiments built/ --seeds 0 1 2 --held-out 2 --variants vision_cnn single_ear_clip bicpl
```
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data.splits import HELD_OUT_CODE
from ..processing.ear_classes import CLASS_CODES
from ..synthetic.benchmark_preset import BENCHMARK_ROI, BENCHMARK_ROI_WHOLE_BONE
from ..training.benchmark_runner import (
    BENCHMARK_SALT,
    BenchmarkData,
    attach_truth_flag,
    cached_build,
    enrich_test_split,
    run_seeds,
    seeds_table,
)
from ..training.run_setup import (
    BENCHMARK_VARIANTS,
    needs_pretrained_text,
    pretrain_setting_text_tower,
    processor_and_config,
    resolve_variants,
    set_torch_threads,
)


def _say(message: str) -> None:
    print(f"[bicpl benchmark {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _budget(args):
    from ..training.experiments import ExperimentBudget

    return ExperimentBudget(contrastive_epochs=args.contrastive_epochs, prototype_epochs=args.prototype_epochs,
                            batch_size=args.batch_size, bootstrap=args.bootstrap, device=args.device,
                            dataloader_num_workers=args.dataloader_workers,
                            unseen_false_positive_rate=None if args.no_calibration else args.unseen_false_positive_rate)


def run_seeds_on_built_dataset(args) -> dict:
    """`bicpl experiments DATASET --seeds ...`: Setting B over the seeds on a dataset built by build_dataset.py."""
    from transformers.utils import logging as hf_logging

    from ..data.splits import load_built_dataset
    from ..processing import BiCPLVolumeProcessor

    hf_logging.set_verbosity_error()
    set_torch_threads(args.num_threads, say=_say)
    dataset = load_built_dataset(args.dataset)
    if args.enrich_test:
        dataset = enrich_test_split(dataset, args.held_out, seed=args.split_seed)
    processor, config = processor_and_config(dataset, BiCPLVolumeProcessor.from_pretrained(args.dataset),
                                             Path(args.output_dir) / "tokenizer",
                                             held_out=args.held_out if args.setting == "B" else None)
    budget, variants = _budget(args), resolve_variants(args.variants)
    if needs_pretrained_text(args, variants):
        budget.text_model_path = pretrain_setting_text_tower(
            dataset, processor, config, args.held_out, Path(args.output_dir), objective=args.pretrain_objective,
            epochs=args.pretrain_epochs, seed=args.split_seed, progress=_say)
    document = run_seeds(dataset, processor, config, args.output_dir, variants=variants,
                         seeds=args.seeds, budget=budget, held_out=args.held_out,
                         normal_variant_column=args.normal_variant_column, progress=_say, setting=args.setting)
    print(seeds_table(document["aggregate"], args.seeds))
    return document


def benchmark_data(args, data_seed: int) -> BenchmarkData:
    """The cohort of `data_seed` as `bicpl benchmark`'s options describe it (what the data cache is keyed by)."""
    return BenchmarkData(n_exams=args.n_exams, size=args.size, data_seed=data_seed,
                         min_ears_per_code={args.held_out: args.min_held_out_ears, 4: args.min_code4_ears},
                         roi_shape=tuple(args.roi_shape), roi_size_mm=tuple(args.roi_size_mm), num_proc=args.num_proc,
                         coarse_roi_size_mm=BENCHMARK_ROI_WHOLE_BONE.coarse_roi_size_mm if args.whole_bone else None,
                         coarse_roi_offset_mm=BENCHMARK_ROI_WHOLE_BONE.coarse_roi_offset_mm if args.whole_bone else None)


CEILING_VARIANT = "ceiling: perfect finding detector + KB"
# The same oracle scored by Bi-CPL v3's rule (findings weighed by how specific they are), its rates from the training
# split: the ceiling of what v3's image side could reach with the knowledge base's findings.
CEILING_LR_VARIANT = "ceiling: perfect finding detector + KB, likelihood ratio"
CEILING_VARIANTS = (CEILING_VARIANT, CEILING_LR_VARIANT)


def write_ceiling_record(dataset, held_out: int, target: Path, cohort: str, paraphrases: dict) -> Path:
    """The perfect-finding-detector ceiling of the knowledge base's composition on the cohort's test split (each test
    ear's findings as its report states them, over every finding in >= 3 ears of the cohort, scored by the knowledge
    base's prompts and by each paraphrase exactly as the attribute-composition baseline scores them), written as a
    per-ear record beside the runs'; beside it the same oracle under Bi-CPL v3's rule (`CEILING_LR_VARIANT`)."""
    from ..data.splits import setting_view
    from ..knowledge import class_prompts, load_knowledge_base
    from ..knowledge.finding_vocabulary import finding_vocabulary
    from ..training.attribute_composition import perfect_detector_predictions, prompt_scores
    from ..training.scored_ears import scored_ears
    from ..training.zero_shot_protocol import scored_codes

    view = setting_view(dataset, "B", held_out=held_out)
    test = view["test"]
    vocabulary = finding_vocabulary([t for split in dataset.values() for t in split["findings_triples"]])
    codes = list(CLASS_CODES)
    knowledge_base = load_knowledge_base()
    predictions = perfect_detector_predictions(test, vocabulary, codes, class_prompts(knowledge_base, codes))
    cosine, kinds = {}, {}
    for code in scored_codes(held_out):
        entries = paraphrases.get(code) or []
        if entries:
            cosine[code] = prompt_scores(predictions.image_embeds, vocabulary,
                                         {i: [e["text"]] for i, e in enumerate(entries)}, knowledge_base)
            kinds[code] = [e["kind"] for e in entries]
    record = scored_ears(predictions, list(test["patient_key"]), cohort=cohort, variant=CEILING_VARIANT, seed=0,
                         zero_shot=True, paraphrase_cosine=cosine, paraphrase_kinds=kinds)
    path = record.save(target / "ceiling" / "ears_perfect_finding_detector_B.npz")
    _likelihood_ceiling_record(view, vocabulary, knowledge_base, cohort).save(
        target / "ceiling" / "ears_perfect_finding_detector_likelihood_ratio_B.npz")
    return path


def _likelihood_ceiling_record(view, vocabulary, knowledge_base, cohort: str):
    """The same oracle scored by Bi-CPL v3's rule (`perfect_detector_likelihood_predictions`): the knowledge base's
    prompts' findings, the rates of the training split's classes."""
    from ..knowledge import class_prompts
    from ..training.attribute_composition import ear_codes
    from ..training.region_findings import perfect_detector_likelihood_predictions
    from ..training.scored_ears import scored_ears
    from ..zero_shot.finding_scores import class_findings_of

    codes = list(CLASS_CODES)
    findings = class_findings_of(class_prompts(knowledge_base, codes), knowledge_base)
    trained = sorted(set(ear_codes(view["train"]).reshape(-1).tolist()) & set(codes))
    predictions = perfect_detector_likelihood_predictions(view["test"], view["train"], vocabulary, codes, findings,
                                                          trained)
    return scored_ears(predictions, list(view["test"]["patient_key"]), cohort=cohort, variant=CEILING_LR_VARIANT,
                       seed=0, zero_shot=True)


def run_cohort(args, data_seed: int, out: Path, paraphrases: dict) -> dict:
    """One cohort: cached export + build, the enriched patient-level split, the Setting B text tower (its training
    exams only), every variant over the model seeds; returns the `run_seeds` document."""
    from ..data.splits import load_built_dataset
    from ..processing import BiCPLVolumeProcessor
    from ..training.zero_shot_protocol import scored_codes

    data = benchmark_data(args, data_seed)
    t = time.time()
    folder, reused = cached_build(data, args.cache_dir, progress=_say)
    data_seconds = time.time() - t
    dataset = load_built_dataset(folder / "built")
    dataset = attach_truth_flag(dataset, folder / "export" / "ground_truth.json", BENCHMARK_SALT,
                                args.normal_variant_column)
    dataset = enrich_test_split(dataset, args.held_out, seed=data_seed,
                                enrich_fractions=(1 - args.enriched_test_fraction - 0.1, 0.1, args.enriched_test_fraction))
    target = out / f"cohort_{data_seed}"
    processor, config = processor_and_config(dataset, BiCPLVolumeProcessor.from_pretrained(folder / "built"),
                                             target / "tokenizer", widths=args.widths, held_out=args.held_out)
    budget = _budget(args)
    if needs_pretrained_text(args, resolve_variants(args.variants)):
        budget.text_model_path = pretrain_setting_text_tower(
            dataset, processor, config, args.held_out, target, objective=args.pretrain_objective,
            epochs=args.pretrain_epochs, seed=data_seed, progress=_say)
    write_ceiling_record(dataset, args.held_out, target, str(data_seed), paraphrases)
    return run_seeds(dataset, processor, config, target, variants=resolve_variants(args.variants), seeds=args.seeds,
                     budget=budget, held_out=args.held_out, normal_variant_column=args.normal_variant_column,
                     progress=_say, setting="B", cohort=str(data_seed), paraphrases=paraphrases,
                     scored_codes=scored_codes(args.held_out),
                     extra={"data": {**vars(data), "cache": str(folder), "cache_reused": reused,
                                     "data_seconds": round(data_seconds, 1)}})


def run_benchmark(args) -> dict:
    """`bicpl benchmark`: Setting B on every cohort (data seed) and model seed, then the protocol's tables
    (`bicpl_hf.training.zero_shot_protocol`): look-alike contrasts with patient-resampled CIs over the cohorts, paired
    differences, the paraphrase spread; a scoring of a test class is appended to the scoring log."""
    import json

    from transformers.utils import logging as hf_logging

    from ..knowledge.paraphrases import load_prompt_paraphrases
    from ..training.scored_ears import ScoredEarRecord
    from ..training.zero_shot_protocol import (
        DEVELOPMENT_DATA_SEEDS,
        TEST_CLASSES,
        TEST_DATA_SEEDS,
        append_scoring_log,
        check_protocol,
        protocol_report,
    )

    data_seeds = args.data_seeds or list(TEST_DATA_SEEDS if args.held_out in TEST_CLASSES else DEVELOPMENT_DATA_SEEDS)
    check_protocol(args.held_out, data_seeds)
    hf_logging.set_verbosity_error()
    set_torch_threads(args.num_threads, say=_say)
    started = time.time()
    out = Path(args.output_dir)
    paraphrases = load_prompt_paraphrases()
    if args.report_only:  # the tables again from the per-ear records on disk, nothing trained
        documents = {}
        for seed in data_seeds:
            path = out / f"cohort_{seed}" / "results.json"
            if not path.is_file():
                raise ValueError(f"--report-only: {path} is missing (cohort {seed} has not run into {out})")
            documents[seed] = json.loads(path.read_text(encoding="utf-8"))
    else:
        documents = {seed: run_cohort(args, seed, out, paraphrases) for seed in data_seeds}
    records = [ScoredEarRecord.load(path) for seed in data_seeds for pattern in ("seed_*/ears_*_B.npz", "ceiling/*.npz")
               for path in sorted((out / f"cohort_{seed}").glob(pattern))]
    report, protocol = protocol_report(records, args.held_out, n_boot=args.n_boot)
    variants = list(dict.fromkeys(v for seed in data_seeds for v in documents[seed]["variants"]))
    # With --report-only, a variant whose records were added to the folder since its run is scored too: name it.
    variants += sorted({record.variant for record in records} - set(variants) - set(CEILING_VARIANTS))

    def counts(per_code: dict) -> dict:  # JSON keys are strings: one form whether run now or read back
        return {int(code): n for code, n in per_code.items()}

    per_cohort = "\n".join(f"- cohort {seed}: test ears per code {counts(documents[seed]['test_ears'])}, training "
                            f"ears {counts(documents[seed]['train_ears'])}" for seed in data_seeds)
    header = (f"# Setting B, held-out class {args.held_out}: cohorts (data seeds) {data_seeds}, model seeds "
              f"{args.seeds}, variants {variants}\n\n{per_cohort}\n\nPoint estimate: mean over cohorts and seeds "
              f"of each run's AUC; 95% CI: {args.n_boot} bootstrap replicates resampling patients within each "
              "cohort.\n\n")
    per_run = "".join(f"- cohort {seed}: {out / f'cohort_{seed}' / 'results.md'}\n" for seed in data_seeds)
    (out / "results.md").write_text(header + report + "\nEvery metric of every run, per cohort:\n\n" + per_run,
                                    encoding="utf-8")
    document = {"held_out": args.held_out, "data_seeds": data_seeds, "seeds": args.seeds, "variants": variants,
                "protocol": protocol, "per_cohort": documents, "seconds": round(time.time() - started, 1)}
    (out / "results.json").write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    if args.held_out in TEST_CLASSES and args.scoring_log:
        entry = append_scoring_log(args.scoring_log, held_out=args.held_out, data_seeds=data_seeds, seeds=args.seeds,
                                   variants=variants, recipe={"budget": vars(_budget(args)), "n_exams": args.n_exams,
                                                              "pretrain_epochs": args.pretrain_epochs},
                                   document=protocol)
        _say(f"scoring of test class(es) logged in {args.scoring_log} (commit {entry['commit']})")
    print((out / "results.md").read_text(encoding="utf-8"))
    _say(f"done in {document['seconds']:.0f} s; {out / 'results.md'}")
    return document


def add_seed_arguments(parser: argparse.ArgumentParser, *, default_seeds=None) -> None:
    """The options shared by `bicpl experiments --seeds` and `bicpl benchmark`."""
    parser.add_argument("--seeds", type=int, nargs="+", default=default_seeds,
                        help="model seeds (init, training order, bootstrap); Setting B is run once per seed and "
                             "reported as mean ± sd and per seed")
    parser.add_argument("--held-out", type=int, default=HELD_OUT_CODE, choices=CLASS_CODES,
                        help="the class Setting B holds out of training (every exam with such an ear leaves training)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="training device (default: a GPU when there is one)")
    parser.add_argument("--num-threads", type=int, default=None,
                        help="torch intra-op threads (default: 1 when the CPUs are already busy, else torch's)")
    parser.add_argument("--dataloader-workers", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--normal-variant-column", default="normal_variant",
                        help="boolean column marking exams with a bilateral normal variant (skipped when absent)")
    parser.add_argument("--setting", choices=["A", "B"], default="B",
                        help="B (default): the held-out class leaves training; A: supervised on codes 1, 2, 3, 5")
    parser.add_argument("--no-pretrain-text", dest="pretrain_text", action="store_false",
                        help="start every text tower from scratch; by default the variants that start from a pretrained "
                             "one (bicpl_v2 and its ablations) get a tower pretrained on the knowledge base and the "
                             "Setting B training reports, once per data seed")
    parser.add_argument("--pretrain-objective", default="mlm+simcse", choices=["mlm", "mlm+simcse"])
    parser.add_argument("--pretrain-epochs", type=float, default=8.0)


def add_benchmark_parser(commands) -> None:
    parser = commands.add_parser("benchmark", help="the synthetic benchmark's Setting B table over seeds (cached data)")
    add_seed_arguments(parser, default_seeds=[0])
    parser.add_argument("--output-dir", default="bicpl_benchmark")
    parser.add_argument("--cache-dir", default="bicpl_benchmark_cache",
                        help="generated exports and builds, reused across seeds, variants and runs")
    parser.add_argument("--variants", nargs="+", default=["benchmark"],
                        help="variant names, or 'benchmark' (" + ", ".join(BENCHMARK_VARIANTS) + ") / 'v2' (bicpl_v2 and "
                             "its ablations) / 'baselines' / 'all'")
    parser.add_argument("--n-exams", type=int, default=600)
    parser.add_argument("--size", default=BENCHMARK_ROI.size,
                        help="synthetic volume size: tiny, small, benchmark (0.75 mm, the default) or full")
    parser.add_argument("--data-seeds", type=int, nargs="+", default=None,
                        help="cohorts (cohort, images and split); default: the fresh test cohorts 1001 1002 1003 for "
                             "a test class (--held-out 2 or 4), development cohort 0 for the development class 3")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates of the protocol's CIs")
    parser.add_argument("--report-only", action="store_true",
                        help="recompute the tables (and log the scoring) from the per-ear records an earlier run left "
                             "in --output-dir, without training")
    parser.add_argument("--scoring-log", default="benchmarks/results/scoring_log.jsonl",
                        help="every scoring of a test class appends one line here (commit, recipe, cohorts, figures); "
                             "'' = no log")
    parser.add_argument("--min-held-out-ears", type=int, default=190,
                        help="ears of the held-out class guaranteed in the cohort (>= 100 land in test)")
    parser.add_argument("--min-code4-ears", type=int, default=55, help="code-4 ears guaranteed (>= 30 land in test)")
    parser.add_argument("--enriched-test-fraction", type=float, default=0.6,
                        help="share of the patients with a held-out-class or code-4 ear that go to test")
    parser.add_argument("--roi-shape", type=int, nargs=3, default=list(BENCHMARK_ROI.roi_shape), metavar=("D", "H", "W"),
                        help="ear ROI in voxels (default: the benchmark preset, 0.75 mm voxels)")
    parser.add_argument("--roi-size-mm", type=float, nargs=3, default=list(BENCHMARK_ROI.roi_size_mm),
                        metavar=("D", "H", "W"), help="ear ROI in millimetres")
    parser.add_argument("--whole-bone", action=argparse.BooleanOptionalAction, default=True,
                        help="the processor's coarse ROI over the whole temporal bone beside the fine one (1.5 mm "
                             "voxels: petrous apex, jugular foramen, mastoid tip; default on); its channels are read by "
                             "Bi-CPL v3's region head, every other variant reads the fine ROI")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--contrastive-epochs", type=float, default=6.0)
    parser.add_argument("--prototype-epochs", type=float, default=8.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--unseen-false-positive-rate", type=float, default=0.05)
    parser.add_argument("--no-calibration", action="store_true")
    parser.set_defaults(func=lambda args: run_benchmark(args) and 0)


def build_parser_defaults() -> argparse.Namespace:
    """The `bicpl benchmark` defaults (the benchmark configuration), as parsed from an empty command line."""
    parser = argparse.ArgumentParser()
    add_benchmark_parser(parser.add_subparsers())
    return parser.parse_args(["benchmark"])


__all__ = ["BENCHMARK_VARIANTS", "add_benchmark_parser", "add_seed_arguments", "build_parser_defaults",
           "processor_and_config", "resolve_variants", "run_benchmark", "run_seeds_on_built_dataset", "set_torch_threads"]
