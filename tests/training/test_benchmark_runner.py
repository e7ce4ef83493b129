"""The multi-seed benchmark runner's pieces: held-out option, enriched patient-level split, cache, aggregation,
and the raw cosine in the predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_config_kwargs
from datasets import Dataset, DatasetDict
from test_training import _dataset

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVolumeProcessor
from bicpl_hf.data.deidentify import salted_key
from bicpl_hf.data.splits import (
    class_counts,
    enriched_patient_splits,
    resplit_by_patient,
    setting_view,
)
from bicpl_hf.training.benchmark_runner import (
    BenchmarkData,
    aggregate_seeds,
    attach_truth_flag,
    cached_build,
    enrich_test_split,
    seeds_table,
)
from bicpl_hf.training.evaluation import predict_dataset, score_held_out
from bicpl_hf.training.experiments import zero_shot_codes


def _exams(pairs, patients=None) -> Dataset:
    return Dataset.from_dict({"exam_key": [f"e{i}" for i in range(len(pairs))],
                              "patient_key": patients or [f"p{i}" for i in range(len(pairs))],
                              "left_code": [p[0] for p in pairs], "right_code": [p[1] for p in pairs]})


def test_any_held_out_code_goes_through_the_same_path():
    pairs = [(1, 5), (2, 5), (4, 1), (6, 3), (5, 5), (3, 3), (2, 1)]
    dataset = DatasetDict(train=_exams(pairs), validation=_exams(pairs), test=_exams(pairs))
    b3 = setting_view(dataset, "B", held_out=3)
    # Exams with a code-3 ear leave train and validation; code 2 is trained; code 4 still leaves train.
    assert list(b3["train"]["exam_key"]) == ["e0", "e1", "e4", "e6"]
    assert list(b3["validation"]["exam_key"]) == ["e0", "e1", "e2", "e4", "e6"]
    assert class_counts(b3["train"]) == {1: 2, 2: 2, 5: 4} and 3 not in class_counts(b3["validation"])
    assert class_counts(b3["test"])[3] == 3
    b2 = setting_view(dataset, "B")  # the default stays code 2
    assert 2 not in class_counts(b2["train"]) and class_counts(b2["train"])[3] == 3
    assert zero_shot_codes("B", 3) == (3, 4) and zero_shot_codes("A", 3) == (4,) and zero_shot_codes("B") == (2, 4)
    with pytest.raises(ValueError, match="held_out must be one of the ear codes"):
        setting_view(dataset, "B", held_out=7)


def test_enriched_split_is_patient_level_and_enriches_test():
    rng = np.random.default_rng(0)
    # 300 patients with 1-3 exams each; a fifth of them have a code-2 ear.
    pairs, patients = [], []
    for p in range(300):
        for _ in range(rng.integers(1, 4)):
            pairs.append((2, 5) if p % 5 == 0 else (1, 5) if p % 2 else (5, 5))
            patients.append(f"patient{p:03d}")
    built = DatasetDict(train=_exams(pairs[:400], patients[:400]), validation=_exams(pairs[400:500], patients[400:500]),
                        test=_exams(pairs[500:], patients[500:]))
    enriched = enrich_test_split(built, held_out=2, seed=0)
    assert sum(len(enriched[s]) for s in enriched) == len(pairs)
    owner = {}
    for split in enriched:
        for patient in enriched[split]["patient_key"]:
            assert owner.setdefault(patient, split) == split, f"patient {patient} straddles two splits"
    rare = {f"patient{p:03d}" for p in range(0, 300, 5)}
    in_test = [owner[p] == "test" for p in rare]
    assert sum(in_test) == round(0.6 * len(rare))  # 60 % of the code-2 patients, against 20 % of the others
    others = [owner[p] == "test" for p in owner if p not in rare]
    assert sum(others) == round(0.2 * len(others))
    assert enriched_patient_splits({"a": {4}, "b": {5}}, seed=0, enrich_codes=[4],
                                   enrich_fractions=(0.0, 0.0, 1.0))["a"] == "test"
    with pytest.raises(ValueError, match="have no split"):
        resplit_by_patient(built, {"patient000": "test"})


def test_multi_seed_aggregation_of_known_numbers():
    rows = [{"variant": "bicpl", "setting": "B", "seed": s, "zs/ausuc": a, "macro_f1": f, "zs/normal_variant_note": "x"}
            for s, a, f in [(0, 0.2, 0.5), (1, 0.4, 0.5), (2, 0.9, float("nan"))]]
    rows.append({"variant": "vision_cnn", "setting": "B", "seed": 0, "zs/ausuc": 0.3})
    aggregate = aggregate_seeds(rows)
    ausuc = aggregate["bicpl"]["zs/ausuc"]
    assert ausuc["mean"] == pytest.approx(0.5) and ausuc["n"] == 3
    assert ausuc["sd"] == pytest.approx(np.sqrt(((0.3) ** 2 + 0.1 ** 2 + 0.4 ** 2) / 2))
    assert ausuc["values"] == {0: 0.2, 1: 0.4, 2: 0.9}
    assert aggregate["bicpl"]["macro_f1"]["n"] == 2 and aggregate["bicpl"]["macro_f1"]["sd"] == 0.0
    assert "zs/normal_variant_note" not in aggregate["bicpl"]
    assert aggregate["vision_cnn"]["zs/ausuc"]["sd"] is None  # one seed: no spread
    table = seeds_table(aggregate, [0, 1, 2])
    assert "| bicpl | " in table and "0.500 ± 0.361" in table and "| bicpl | AUSUC | 0.200 | 0.400 | 0.900 |" in table
    assert "| vision_cnn | AUSUC | 0.300 | – | – |" in table


def test_predictions_carry_the_raw_cosine_and_held_out_metrics(tokenizer):
    processor = BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0)), tokenizer)
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs())).eval()
    model.config.class_logit_offsets = [0.0, 1.5, 0.0, 1.5, 0.0, 1.5]
    dataset = _dataset(12)
    predictions = predict_dataset(model, processor, dataset, with_text=False)
    prototypes = torch.nn.functional.normalize(model.get_prototypes(), dim=-1).detach().numpy()
    np.testing.assert_allclose(predictions.cosine, predictions.image_embeds @ prototypes.T, atol=1e-5)
    scale = model.prototype_head.logit_scale.exp().item()
    np.testing.assert_allclose(predictions.logits, scale * predictions.cosine + np.array(model.config.class_logit_offsets),
                               atol=1e-4)
    assert np.abs(predictions.cosine).max() <= 1.0 + 1e-5
    metrics = score_held_out(predictions, 2, [2, 4, 6], dataset.add_column("normal_variant", [True] * 12))
    from sklearn.metrics import roc_auc_score

    known = predictions.labels != -100
    labels = predictions.labels[known]
    assert metrics["zs/auc_cosine"] == pytest.approx(roc_auc_score(labels == 2, predictions.cosine[known][:, 1]))
    assert metrics["zs/n_normal_variant_ears"] == int((labels == 5).sum())
    assert "zs/normal_variant_note" in score_held_out(predictions, 2, [2, 4, 6], dataset)


def test_truth_flag_is_attached_by_salted_exam_key(tmp_path):
    salt = "a-test-salt-of-enough-length"
    truth = {"exams": [{"exam_id": "X1", "normal_variant": True}, {"exam_id": "X2", "normal_variant": False},
                       {"exam_id": "X3", "normal_variant": {"left": False, "right": True}},
                       # the generator's list of variant names: only a bilateral variant flags the exam
                       {"exam_id": "X5", "normal_variant": ["bilateral_sclerotic", "high_jugular_bulb_left"]},
                       {"exam_id": "X6", "normal_variant": ["dominant_jugular_bulb_right"]},
                       {"exam_id": "X7", "normal_variant": []}]}
    (tmp_path / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    keys = [salted_key(salt, "exam", e) for e in ("X1", "X2", "X3", "X4", "X5", "X6", "X7")]
    dataset = DatasetDict(test=Dataset.from_dict({"exam_key": keys}))
    flagged = attach_truth_flag(dataset, tmp_path / "truth.json", salt, "normal_variant")
    assert flagged["test"]["normal_variant"] == [[True, True], [False, False], [False, True], [False, False],
                                                 [True, True], [False, False], [False, False]]
    assert attach_truth_flag(dataset, tmp_path / "truth.json", salt, "absent_flag") is dataset


def test_generation_and_build_are_cached(tmp_path, monkeypatch):
    data = BenchmarkData(n_exams=6, size="tiny", min_ears_per_code={}, roi_shape=(16, 16, 16),
                         roi_size_mm=(36.0, 36.0, 36.0), num_proc=1)
    folder, reused = cached_build(data, tmp_path, progress=lambda _: None)
    assert not reused and (folder / "complete.json").is_file() and (folder / "built").is_dir()

    from bicpl_hf.synthetic import export

    def fail(*args, **kwargs):
        raise AssertionError("the cached export was generated again")

    monkeypatch.setattr(export, "make_synthetic_export", fail)
    again, reused = cached_build(data, tmp_path, progress=lambda _: None)
    assert reused and again == folder
    # Another data seed is another build.
    with pytest.raises(AssertionError, match="generated again"):
        cached_build(BenchmarkData(n_exams=6, size="tiny", data_seed=1, min_ears_per_code={}, roi_shape=(16, 16, 16),
                         roi_size_mm=(36.0, 36.0, 36.0), num_proc=1),
                     tmp_path, progress=lambda _: None)


def test_an_export_is_shared_across_rois_and_checked_against_the_generator(tmp_path, monkeypatch):
    from bicpl_hf.synthetic import export
    from bicpl_hf.synthetic.export_check import export_mismatch

    fine = BenchmarkData(n_exams=6, size="tiny", min_ears_per_code={}, roi_shape=(16, 16, 16),
                         roi_size_mm=(36.0, 36.0, 36.0), num_proc=1)
    first, _ = cached_build(fine, tmp_path, progress=lambda _: None)
    assert export_mismatch(first / "export", n_exams=6, size="tiny", seed=0, min_ears_per_code={}) is None

    def fail(*args, **kwargs):
        raise AssertionError("the cached export was generated again")

    monkeypatch.setattr(export, "make_synthetic_export", fail)
    whole_bone = BenchmarkData(n_exams=6, size="tiny", min_ears_per_code={}, roi_shape=(16, 16, 16),
                               roi_size_mm=(36.0, 36.0, 36.0), num_proc=1, coarse_roi_size_mm=(72.0, 72.0, 72.0),
                               coarse_roi_offset_mm=(-6.0, 4.0, -6.0))
    said = []
    second, reused = cached_build(whole_bone, tmp_path, progress=said.append)
    assert not reused and second != first and (second / "export").is_symlink()
    assert any("sharing the export" in line for line in said)
    from bicpl_hf.data.splits import load_built_dataset

    built = load_built_dataset(second / "built")
    assert np.asarray(built["train"][0]["pixel_values"]).shape == (2, 4, 16, 16, 16)  # fine + coarse windows

    # An export the generator would not write again (here: one report edited) is never shared.
    truth_path = first / "export" / "ground_truth.json"
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    truth["exams"][0]["report"]["findings"] += "。"
    truth_path.write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
    assert "report of exam" in export_mismatch(first / "export", n_exams=6, size="tiny", seed=0, min_ears_per_code={})


def test_a_build_whose_shared_export_was_deleted_gets_it_back(tmp_path):
    import shutil

    fine = BenchmarkData(n_exams=6, size="tiny", min_ears_per_code={}, roi_shape=(16, 16, 16),
                         roi_size_mm=(36.0, 36.0, 36.0), num_proc=1)
    whole_bone = BenchmarkData(n_exams=6, size="tiny", min_ears_per_code={}, roi_shape=(16, 16, 16),
                               roi_size_mm=(36.0, 36.0, 36.0), num_proc=1, coarse_roi_size_mm=(72.0, 72.0, 72.0),
                               coarse_roi_offset_mm=(-6.0, 4.0, -6.0))
    first, _ = cached_build(fine, tmp_path, progress=lambda _: None)
    second, _ = cached_build(whole_bone, tmp_path, progress=lambda _: None)
    truth = (first / "export" / "ground_truth.json").read_bytes()
    built = sorted(p.name for p in (second / "built").rglob("*"))
    shutil.rmtree(first)  # the folder that owned the export: `second / "export"` now dangles
    assert (second / "export").is_symlink() and not (second / "export").exists()

    said = []
    again, reused = cached_build(whole_bone, tmp_path, progress=said.append)
    assert reused and again == second
    assert any("lost its export" in line and "dangling link" in line for line in said)
    # The generator makes the same export again, and the build is kept as it was.
    assert (second / "export" / "ground_truth.json").read_bytes() == truth
    assert not (second / "export").is_symlink()
    assert sorted(p.name for p in (second / "built").rglob("*")) == built


def test_side_by_side_shows_single_ear_clip_and_bicpl():
    from bicpl_hf.training.benchmark_runner import side_by_side
    from bicpl_hf.training.experiments import RunResult

    metrics = {"zs/held_out": 2, "zs/auc_probability": 0.61, "zs/auc_cosine": 0.7, "zs/ausuc": 0.25,
               "zs/normal_variant_note": "no boolean column 'normal_variant'"}
    results = [RunResult("bicpl", "B", metrics, 1.0, 10), RunResult("bicpl", "A", {"zs/auc_cosine": 0.1}, 1.0, 10),
               RunResult("vision_cnn", "B", {**metrics, "zs/auc_cosine": 0.2}, 1.0, 10)]
    table, lines = side_by_side(results)
    assert "| AUC (cosine) | not run | 0.700 |" in table and "| AUSUC | not run | 0.250 |" in table
    assert "no boolean column" in table
    assert lines[0] == "Setting B, held-out class 2: single_ear_clip vs bicpl"
    assert "AUC (prob.): single_ear_clip not run, bicpl 0.610" in lines


@pytest.mark.parametrize("held_out, data_seed", [(2, 1001), (2, 1002), (2, 1003), (3, 0)])
def test_benchmark_configuration_has_the_power_it_promises(held_out, data_seed):
    """600 exams with the command's minimums, enriched split: >= 100 held-out test ears and, on the test cohorts,
    >= 30 code-4 test ears (issue 21)."""
    from bicpl_hf.commands.benchmark import build_parser_defaults
    from bicpl_hf.synthetic.cohort import sample_cohort

    defaults = build_parser_defaults()
    exams = sample_cohort(defaults.n_exams, seed=data_seed,
                          min_ears_per_code={held_out: defaults.min_held_out_ears, 4: defaults.min_code4_ears})
    codes = {}
    for exam in exams:
        codes.setdefault(exam.patient.patient_id, set()).update([exam.left.code, exam.right.code])
    fraction = defaults.enriched_test_fraction
    splits = enriched_patient_splits(codes, seed=data_seed, enrich_codes=[held_out, 4],
                                     enrich_fractions=(0.9 - fraction, 0.1, fraction))
    test_ears = [c for e in exams if splits[e.patient.patient_id] == "test" for c in (e.left.code, e.right.code)]
    assert test_ears.count(held_out) >= 100
    assert held_out == 3 or test_ears.count(4) >= 30


def test_runs_of_parallel_processes_combine_into_one_table(tmp_path):
    from bicpl_hf.training.benchmark_runner import combine_runs

    def document(variant, values):
        rows = [{"variant": variant, "setting": "B", "seed": s, "zs/auc_probability": v} for s, v in values.items()]
        return {"setting": "B", "held_out": 2, "test_ears": {"2": 100}, "variants": [variant], "runs": rows}

    combined = combine_runs([document("single_ear_clip", {0: 0.5, 1: 0.7}), document("bicpl_v2", {0: 0.8, 1: 0.9})],
                            tmp_path)
    assert combined["variants"] == ["single_ear_clip", "bicpl_v2"] and combined["seeds"] == [0, 1]
    assert combined["aggregate"]["bicpl_v2"]["zs/auc_probability"]["mean"] == pytest.approx(0.85)
    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| bicpl_v2 | AUC (prob.) | 0.800 | 0.900 |" in table
    with pytest.raises(ValueError, match="held-out class"):
        combine_runs([document("a", {0: 0.1}), {**document("b", {0: 0.2}), "held_out": 3}], tmp_path)


def test_benchmark_pretrains_a_text_tower_only_for_the_variants_that_start_from_one():
    from bicpl_hf.commands.cli import build_parser
    from bicpl_hf.training.run_setup import BENCHMARK_VARIANTS, needs_pretrained_text, resolve_variants

    parser = build_parser()
    args = parser.parse_args(["benchmark"])
    assert resolve_variants(args.variants) == list(BENCHMARK_VARIANTS) and "bicpl_v2" in BENCHMARK_VARIANTS
    assert needs_pretrained_text(args, resolve_variants(args.variants))
    assert needs_pretrained_text(args, ["single_ear_clip"])  # the fair CLIP baseline starts from the same tower
    assert not needs_pretrained_text(args, ["vision_cnn", "single_ear_clip_v1", "bicpl"])
    assert not needs_pretrained_text(parser.parse_args(["benchmark", "--no-pretrain-text"]), ["bicpl_v2"])
    assert resolve_variants(["v2"])[0] == "bicpl_v2" and len(resolve_variants(["v2", "bicpl_v2"])) == 6


def test_tokenizer_of_a_setting_b_run_never_reads_a_held_out_class_report(tmp_path):
    """Issue 21 leak fix: a character that occurs only in the report of an exam with a held-out-class ear (or only in
    validation / test) is not in the vocabulary; one of a training exam is."""
    from bicpl_hf.training.run_setup import processor_and_config

    def split(reports, codes):
        return Dataset.from_dict({"report": reports, "left_code": [c[0] for c in codes],
                                  "right_code": [c[1] for c in codes]})

    dataset = DatasetDict({
        "train": split(["影像所见：左侧鼓室见软组织影。鑫", "影像所见：右侧鼓室积液。龘"], [(1, 5), (3, 5)]),
        "validation": split(["影像所见：双侧中耳未见异常。麤"], [(5, 5)]),
        "test": split(["影像所见：左侧上鼓室软组织影。齉"], [(2, 5)]),
    })
    volume_processor = BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0))
    processor, _ = processor_and_config(dataset, volume_processor, tmp_path / "tok", widths=(8, 16), held_out=3)
    vocab = processor.tokenizer.get_vocab()
    assert "鑫" in vocab and "龘" not in vocab and "麤" not in vocab and "齉" not in vocab
    processor, _ = processor_and_config(dataset, volume_processor, tmp_path / "tok_a", widths=(8, 16), held_out=None)
    assert "龘" in processor.tokenizer.get_vocab()  # Setting A reads every training report
