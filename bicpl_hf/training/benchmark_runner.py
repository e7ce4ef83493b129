"""The multi-seed benchmark runner: Setting B over several seeds on one cached synthetic build, mean ± sd and every seed.

`bicpl benchmark` generates the synthetic export and builds the dataset once per DATA configuration and caches both
on disk (`<cache-dir>/data-<key>/`, `<key>` a hash of the sizes, the data seed and the generator's source), then
re-splits the build at patient level with an enriched test split (the held-out class and code 4, for power) and
trains every variant once per model seed. `bicpl experiments DATASET --seeds ...` runs the same loop on a dataset
you built yourself.

Seeds: a *model seed* sets the initialisation, the training order and the bootstrap; the *data seed* (cohort, images
and patient split) stays fixed by default, so the spread over seeds is the methods' own variance on one benchmark.
`vary_data_seed=True` uses the model seed as data seed too (one cached build per data seed): the spread then also
holds the cohort's sampling variance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.splits import (
    HELD_OUT_CODE,
    class_counts,
    enriched_patient_splits,
    patient_codes,
    resplit_by_patient,
)
from ..processing.ear_classes import CLASS_NAMES_ZH
from ..synthetic.benchmark_preset import BENCHMARK_ROI, BenchmarkROI

logger = logging.getLogger(__name__)

BENCHMARK_SALT = "bicpl-benchmark-salt-public-not-secret"  # synthetic data only
SETTING = "B"
# The metrics of the summary table, in order: (key in a run's metrics, column title).
SUMMARY_METRICS = (
    ("zs/auc_probability", "AUC (prob.)"),
    ("zs/auc_cosine", "AUC (cosine)"),
    ("zs/auc_vs_diseased_probability", "AUC vs diseased (prob.)"),
    ("zs/auc_vs_diseased_cosine", "AUC vs diseased (cosine)"),
    ("zs/gzsl_acc_seen", "GZSL seen"),
    ("zs/gzsl_acc_unseen", "GZSL unseen"),
    ("zs/gzsl_harmonic", "GZSL H"),
    ("zs/ausuc", "AUSUC"),
    ("zs/normal_variant_called_diseased", "normal variant called diseased"),
    ("normal_called_diseased/partner_diseased", "normal ear beside a diseased one called diseased"),
    (f"zero_shot_auc/{CLASS_NAMES_ZH[4]}", "code-4 AUC"),
    (f"recall/{CLASS_NAMES_ZH[4]}", "code-4 recall"),
    ("macro_f1", "macro-F1"),
    ("seconds", "seconds"),
)


@dataclass
class BenchmarkData:
    """Sizes of the synthetic benchmark (what the cache key is made of)."""

    n_exams: int = 600
    size: str = BENCHMARK_ROI.size
    data_seed: int = 0
    # Ears guaranteed per code in the cohort; the held-out class and code 4 get enough for >= 100 / >= 25 test ears.
    min_ears_per_code: dict = field(default_factory=lambda: {2: 190, 4: 55})
    # The ear ROI (D, H, W) in voxels and millimetres: <= 0.8 mm voxels over the middle ear (`BENCHMARK_ROI`).
    roi_shape: tuple = BENCHMARK_ROI.roi_shape
    roi_size_mm: tuple = BENCHMARK_ROI.roi_size_mm
    num_proc: int = 2
    # The processor's coarse ROI over the whole temporal bone (`BENCHMARK_ROI_WHOLE_BONE`); None = fine ROI only.
    coarse_roi_size_mm: tuple | None = None
    coarse_roi_offset_mm: tuple | None = None

    def processor_kwargs(self) -> dict:
        """Keyword arguments of the `BiCPLVolumeProcessor` that builds this cohort."""
        return BenchmarkROI(self.size, tuple(self.roi_shape), tuple(self.roi_size_mm), self.coarse_roi_size_mm,
                            self.coarse_roi_offset_mm).processor_kwargs()


def generator_fingerprint() -> str:
    """Hash of the synthetic generator's and builder's source: a changed generator never reuses an old cache."""
    import bicpl_hf

    root = Path(bicpl_hf.__file__).parent
    digest = hashlib.sha256()
    # The ROI preset enters the key through `BenchmarkData`'s fields; the docs module and the re-exports render nothing.
    sources = [p for p in (root / "synthetic").glob("*.py")
               if p.name not in ("benchmark_preset.py", "benchmark_docs.py", "__init__.py")]
    for path in sorted([*sources, root / "data" / "builder.py"]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def synthetic_slice_limit_mm(size: str) -> float:
    """The builder's slice-thickness limit for a synthetic export of `size`: the temporal-bone default, raised to the
    size's own slice thickness (the seconds-long "tiny" size writes 2 mm slices)."""
    from ..data.builder import DEFAULT_MAX_SLICE_THICKNESS_MM
    from ..synthetic.export import SIZES

    return max(DEFAULT_MAX_SLICE_THICKNESS_MM, SIZES[size].slice_mm or 0.0)


def data_cache_key(data: BenchmarkData) -> str:
    spec = {k: v for k, v in asdict(data).items() if k != "num_proc" and not (k.startswith("coarse_") and v is None)}
    spec["min_ears_per_code"] = {str(k): int(v) for k, v in sorted(spec["min_ears_per_code"].items())}
    spec["generator"] = generator_fingerprint()
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def cached_build(data: BenchmarkData, cache_dir: str | Path, progress=print) -> tuple[Path, bool]:
    """The folder of the generated export and built dataset for `data`, made on first use; `(folder, reused)`.

    The folder holds `export/`, `built/` and `complete.json` (written last, so an interrupted run is redone). A complete
    folder whose export is gone (a shared one deleted with its owner) gets it back; its build is kept."""
    from ..data.builder import build_dataset
    from ..processing import BiCPLVolumeProcessor

    folder = Path(cache_dir) / f"data-{data_cache_key(data)}"
    marker = folder / "complete.json"
    if marker.is_file():
        if not (folder / "export" / "ground_truth.json").is_file():
            # The export this build shared was deleted with its folder (a cleaned cache). The build stays valid (the
            # key holds the generator), so only the export is made again, or shared from another complete folder.
            progress(f"the cached build in {folder} has lost its export ({folder / 'export'} is "
                     f"{'a dangling link' if (folder / 'export').is_symlink() else 'missing'}): making it again")
            if (folder / "export").is_symlink():
                (folder / "export").unlink()
            elif (folder / "export").exists():
                import shutil

                shutil.rmtree(folder / "export")
            _cached_export(data, folder, cache_dir, progress)
            return folder, True
        progress(f"reusing the cached export and build in {folder}")
        return folder, True
    if folder.exists():
        import shutil

        shutil.rmtree(folder)  # an interrupted earlier attempt
    started = time.time()
    progress(f"preparing {data.n_exams} synthetic exams ({data.size}, data seed {data.data_seed}) in {folder}")
    xlsx_path, dicom_root = _cached_export(data, folder, cache_dir, progress)
    generated = time.time() - started
    progress("building the de-identified dataset")
    processor = BiCPLVolumeProcessor(**data.processor_kwargs())
    build_dataset(xlsx_path, dicom_root, folder / "built", processor=processor, salt=BENCHMARK_SALT,
                  seed=data.data_seed, num_proc=data.num_proc, progress=False,
                  max_slice_thickness_mm=synthetic_slice_limit_mm(data.size))
    marker.write_text(json.dumps({"data": asdict(data), "key": data_cache_key(data), "export_seconds": generated,
                                  "build_seconds": time.time() - started - generated}, indent=2, default=str),
                      encoding="utf-8")
    return folder, False


def _cached_export(data: BenchmarkData, folder: Path, cache_dir: str | Path, progress) -> tuple[Path, Path]:
    """`(xlsx_path, dicom_root)` of the cohort's export in `folder / "export"`: generated, or shared (a symlink) with a
    complete cached folder of the same cohort that differs by its ROI (an export does not depend on the processor) or
    by a generator edit that leaves the output unchanged (`export_mismatch`: every report and a few exams' DICOM
    bytes re-made and compared)."""
    from ..synthetic.export import make_synthetic_export
    from ..synthetic.export_check import export_mismatch

    cohort = _cohort_spec(data)
    for candidate in sorted(Path(cache_dir).glob("data-*/complete.json")):
        if candidate.parent == folder or (candidate.parent / "export").is_symlink():
            continue
        if not (candidate.parent / "export" / "ground_truth.json").is_file():
            continue  # a complete folder whose own export is gone: nothing to share
        try:
            stored = json.loads(candidate.read_text(encoding="utf-8"))["data"]
        except (ValueError, KeyError):
            continue
        if _cohort_spec(stored) != cohort:
            continue
        export = (candidate.parent / "export").resolve()
        mismatch = export_mismatch(export, n_exams=data.n_exams, size=data.size, seed=data.data_seed,
                                   min_ears_per_code=dict(data.min_ears_per_code))
        if mismatch is not None:
            progress(f"not sharing the export of {candidate.parent}: {mismatch}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "export").symlink_to(export, target_is_directory=True)
        progress(f"sharing the export of {candidate.parent} (the same cohort; the current generator re-makes its "
                 "reports and sampled exams byte for byte)")
        return folder / "export" / "export.xlsx", folder / "export" / "dicom"
    export = make_synthetic_export(folder / "export", n_exams=data.n_exams, size=data.size, seed=data.data_seed,
                                   num_proc=data.num_proc, min_ears_per_code=dict(data.min_ears_per_code))
    return export.xlsx_path, export.dicom_root


def _cohort_spec(data: BenchmarkData | dict) -> dict:
    """What an export depends on: the cohort's size, seed and guaranteed ears (not the ROI, not the processes)."""
    values = asdict(data) if isinstance(data, BenchmarkData) else dict(data)
    return {"n_exams": int(values["n_exams"]), "size": str(values["size"]), "data_seed": int(values["data_seed"]),
            "min_ears_per_code": {str(k): int(v) for k, v in sorted(values["min_ears_per_code"].items(),
                                                                     key=lambda kv: str(kv[0]))}}


def attach_truth_flag(dataset_dict, truth_path: str | Path, salt: str, column: str):
    """Add the boolean `column` (per ear, `[left, right]`) from the generator's `ground_truth.json` to every split.

    An exam record may hold `column` as one boolean (both ears), as `{"left": bool, "right": bool}`, or as the
    generator's list of variant names, of which only the bilateral ones (`bilateral_sclerotic`, ...: both ears look
    alike and abnormal on one-side inspection) set the flag; a one-sided asymmetry (a dominant jugular bulb) does not.
    Returns the dataset unchanged when no record has the flag (an older generator)."""
    from datasets import DatasetDict, Value
    from datasets import Sequence as FeatureSequence

    from ..data.deidentify import salted_key

    truth = json.loads(Path(truth_path).read_text(encoding="utf-8"))
    flags = {}
    for exam in truth.get("exams", []):
        if column not in exam:
            continue
        value = exam[column]
        if isinstance(value, dict):
            pair = [bool(value.get("left")), bool(value.get("right"))]
        elif isinstance(value, list):
            pair = [any(str(name).startswith("bilateral") for name in value)] * 2
        else:
            pair = [bool(value)] * 2
        flags[salted_key(salt, "exam", exam["exam_id"])] = pair
    if not flags:
        return dataset_dict
    feature = FeatureSequence(Value("bool"), length=2)
    return DatasetDict({split: part.add_column(column, [flags.get(k, [False, False]) for k in part["exam_key"]],
                                               feature=feature) for split, part in dataset_dict.items()})


def enrich_test_split(dataset_dict, held_out: int, seed: int, enrich_fractions=(0.3, 0.1, 0.6)):
    """Re-split at patient level with the patients of the held-out class and of code 4 enriched in test."""
    codes = patient_codes(dataset_dict)
    splits = enriched_patient_splits(codes, seed=seed, enrich_codes={int(held_out), 4},
                                     enrich_fractions=tuple(enrich_fractions))
    return resplit_by_patient(dataset_dict, splits)


# ---------------------------------------------------------------------------------------------- seeds and tables


def aggregate_seeds(rows: Sequence[dict], keys: Sequence[str] | None = None) -> dict[str, dict[str, dict]]:
    """Per variant, per metric: `{"mean", "sd" (sample, ddof=1; None for one seed), "n", "values" (by seed)}`.

    `rows` are run rows (`RunResult.row()` plus `"seed"`); only numeric metrics are aggregated, NaN and missing
    values are left out of the mean (and `n` says how many seeds count).

    Example:
        >>> rows = [{"variant": "bicpl", "seed": s, "zs/ausuc": v} for s, v in [(0, 0.5), (1, 0.7), (2, 0.9)]]
        >>> aggregate_seeds(rows)["bicpl"]["zs/ausuc"]["sd"]
        0.2
    """
    out: dict[str, dict[str, dict]] = {}
    for row in rows:
        per_variant = out.setdefault(row["variant"], {})
        for key, value in row.items():
            if key in ("variant", "setting", "seed") or (keys is not None and key not in keys):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            per_variant.setdefault(key, {"values": {}})["values"][int(row["seed"])] = float(value)
    for per_variant in out.values():
        for stats in per_variant.values():
            finite = [v for v in stats["values"].values() if np.isfinite(v)]
            stats["n"] = len(finite)
            stats["mean"] = float(np.mean(finite)) if finite else None
            stats["sd"] = round(float(np.std(finite, ddof=1)), 12) if len(finite) > 1 else None
    return out


def _cell(stats: dict | None, digits: int = 3) -> str:
    if not stats or stats["mean"] is None:
        return "–"
    if stats["sd"] is None:
        return f"{stats['mean']:.{digits}f}"
    return f"{stats['mean']:.{digits}f} ± {stats['sd']:.{digits}f}"


def seeds_table(aggregate: dict, seeds: Sequence[int], metrics=SUMMARY_METRICS) -> str:
    """Markdown: mean ± sd per variant, then every seed's value of every metric."""
    lines = ["| variant | " + " | ".join(title for _, title in metrics) + " |", "|---|" + "---|" * len(metrics)]
    for variant, stats in aggregate.items():
        lines.append(f"| {variant} | " + " | ".join(_cell(stats.get(k), 0 if k == "seconds" else 3)
                                                   for k, _ in metrics) + " |")
    lines += ["", "Every seed:", "", "| variant | metric | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|---|---|" + "---|" * len(seeds)]
    for variant, stats in aggregate.items():
        for key, title in metrics:
            values = (stats.get(key) or {}).get("values", {})
            lines.append(f"| {variant} | {title} | " + " | ".join(
                "–" if s not in values else f"{values[s]:.{0 if key == 'seconds' else 3}f}" for s in seeds) + " |")
    return "\n".join(lines) + "\n"


def side_by_side(results, variants: Sequence[str] = ("single_ear_clip", "bicpl"), setting: str = SETTING,
                 metrics=SUMMARY_METRICS[:-1]) -> tuple[str, list[str]]:
    """Setting B zero-shot metrics of `variants` (single runs, `RunResult`s) side by side: a markdown table with one
    column per variant, and one summary line per metric. A variant that was not run shows "not run"."""
    by_variant = {r.variant: r.metrics for r in results if r.setting == setting}
    lines = ["| metric | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    summary = []
    for key, title in metrics:
        cells = []
        for variant in variants:
            value = by_variant.get(variant, {}).get(key) if variant in by_variant else None
            cells.append("not run" if variant not in by_variant else "–" if value is None else f"{value:.3f}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
        summary.append(f"{title}: " + ", ".join(f"{v} {c}" for v, c in zip(variants, cells)))
    held_out = next((m.get("zs/held_out") for m in by_variant.values() if "zs/held_out" in m), None)
    note = next((m["zs/normal_variant_note"] for m in by_variant.values() if "zs/normal_variant_note" in m), None)
    header = f"Setting {setting}, held-out class {held_out}: " + " vs ".join(variants)
    return "\n".join(lines) + ("\n\n" + note if note else "") + "\n", [header, *summary]


def combine_runs(documents: Sequence[dict], output_dir: str | Path) -> dict:
    """One table from several `run_seeds` documents of the SAME data and split (e.g. variants run in parallel
    processes): their runs are pooled, aggregated per variant and written as `results.json` / `results.md`."""
    if not documents:
        raise ValueError("give at least one results document")
    held_out = {d.get("held_out") for d in documents}
    tests = {json.dumps(d.get("test_ears"), sort_keys=True) for d in documents}
    if len(held_out) != 1 or len(tests) != 1:
        raise ValueError(f"the documents differ in held-out class {held_out} or test split {tests}: not one benchmark")
    rows = [row for d in documents for row in d["runs"]]
    seeds = sorted({int(row["seed"]) for row in rows})
    combined = {**documents[0], "variants": list(dict.fromkeys(v for d in documents for v in d["variants"])),
                "seeds": seeds, "aggregate": aggregate_seeds(rows), "runs": rows}
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(json.dumps(combined, ensure_ascii=False, indent=2, default=str),
                                             encoding="utf-8")
    header = (f"Setting {combined.get('setting', SETTING)}, held-out class {held_out.pop()}, seeds {seeds}: mean ± sd "
              f"over seeds (sample sd). Test ears per code: {combined.get('test_ears')}.\n\n")
    (output_dir / "results.md").write_text(header + seeds_table(combined["aggregate"], seeds), encoding="utf-8")
    return combined


def run_seeds(dataset_dict, processor, base_config: dict, output_dir: str | Path, *, variants: Sequence[str],
              seeds: Sequence[int], budget, held_out: int = HELD_OUT_CODE,
              normal_variant_column: str | None = "normal_variant", progress=print, extra: dict | None = None,
              setting: str = SETTING, cohort: str = "", paraphrases: dict | None = None,
              scored_codes: Sequence[int] | None = None) -> dict:
    """Setting B (or `setting="A"`, for its macro-F1 and code-4 figures) for every variant and seed on one dataset;
    writes `results.json` / `results.md` in `output_dir` (and each seed's own results and per-ear scores under
    `seed_<s>/`); returns the JSON document. `cohort`, `paraphrases`, `scored_codes` as in `run_one`."""
    from ..data.splits import setting_view
    from .experiments import run_experiments

    if not seeds:
        raise ValueError("give at least one seed")
    output_dir = Path(output_dir)
    if setting not in ("A", "B"):
        raise ValueError(f"setting must be 'A' or 'B', got {setting!r}")
    view = setting_view(dataset_dict, setting, held_out=held_out)
    views = {setting: view.with_format("numpy", columns=["pixel_values"], output_all_columns=True)}
    rows = []
    for seed in seeds:
        progress(f"seed {seed}: {', '.join(variants)} in setting {setting} (held-out class {held_out})")
        results, _ = run_experiments(views, processor, base_config, output_dir / f"seed_{seed}", variants=variants,
                                     settings=(setting,), budget=budget, seed=seed, keep_model="", progress=progress,
                                     held_out=held_out, normal_variant_column=normal_variant_column, cohort=cohort,
                                     paraphrases=paraphrases, scored_codes=scored_codes)
        rows += [{**r.row(), "seed": seed} for r in results]
    aggregate = aggregate_seeds(rows)
    document = {"setting": setting, "held_out": held_out, "seeds": list(seeds), "variants": list(variants),
                "budget": asdict(budget), "test_ears": class_counts(dataset_dict["test"]),
                "train_ears": class_counts(view["train"]), **(extra or {}), "aggregate": aggregate, "runs": rows}
    (output_dir / "results.json").write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str),
                                             encoding="utf-8")
    header = (f"Setting {setting}, held-out class {held_out}, seeds {list(seeds)}: mean ± sd over seeds (sample sd). "
              f"Test ears per code: {document['test_ears']}.\n\n")
    notes = sorted({row["zs/normal_variant_note"] for row in rows if "zs/normal_variant_note" in row})
    header += "".join(f"Note: {note}.\n\n" for note in notes)
    (output_dir / "results.md").write_text(header + seeds_table(aggregate, seeds), encoding="utf-8")
    return document


__all__ = ["BENCHMARK_SALT", "BenchmarkData", "aggregate_seeds", "attach_truth_flag", "cached_build", "combine_runs",
           "data_cache_key", "enrich_test_split", "generator_fingerprint", "run_seeds", "seeds_table", "side_by_side"]
