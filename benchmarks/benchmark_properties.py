"""Does the synthetic benchmark have the properties Bi-CPL's claims need? Checks that use no Bi-CPL model code.

On one generated cohort (rendered at the benchmark size, ear ROIs cut by the package's volume processor with
`BENCHMARK_ROI`; cached as an .npz and reused) this measures:

1. shortcut still fails: a logistic regression on per-ear intensity histograms (`shortcut_baseline.py`'s features)
   against a small supervised 3D CNN, both on codes 1, 2, 3, 5, same patient-level split;
2. bilateral value: classical per-ear features (window histograms + region means) of an ear, alone vs together
   with its mirrored partner's, on normal-vs-diseased AUC (out-of-fold, patient-grouped), and how often each calls
   the normal ears of bilateral-normal-variant exams (bilaterally diploic / sclerotic) diseased;
3. composition: for each class held out in turn, the share of its defining findings that occur in the training
   classes, from the rate table and measured on generated reports parsed with `parse_report`;
4. not trivially easy: the CNN (trained WITH code 2) on code 2 vs CSOM AUC.

    python benchmarks/benchmark_properties.py                      # defaults: 240 exams, size benchmark, seed 0
    python benchmarks/benchmark_properties.py --n-exams 480 --min-ears 2=150   # >= 40 code-2 test ears
    python benchmarks/benchmark_properties.py --n-exams 600 --epochs 30 --num-proc 4 --out outputs/props

Prints a table and writes `benchmark_properties.json` into `--out`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import GroupKFold, GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shortcut_baseline import SUPERVISED, histogram_features

from bicpl_hf.processing.image_processing_bicpl import DEFAULT_WINDOWS
from bicpl_hf.synthetic.attributes import CLASS_NAMES_ZH
from bicpl_hf.synthetic.benchmark_preset import BENCHMARK_ROI, BenchmarkROI
from bicpl_hf.synthetic.cohort import sample_cohort
from bicpl_hf.synthetic.constitution import MASTOID_PATTERNS
from bicpl_hf.synthetic.findings import DEFINING_FINDINGS, class_rate
from bicpl_hf.training.benchmark_runner import generator_fingerprint

# How each finding reads in a parsed report: (entity keys or None for any, attribute keys).
REPORT_SIGNATURES = {
    "mucosal_thickening": (None, {"mucosal_thickening"}),
    "tympanic_soft_tissue": ({"tympanic_cavity"}, {"soft_tissue", "filling"}),
    "mastoid_opacification": ({"mastoid"}, {"soft_tissue", "increased_density", "opacified", "effusion"}),
    "attic_soft_tissue": ({"epitympanum"}, {"soft_tissue"}),
    "scutum_erosion": ({"scutum"}, {"bone_erosion"}),
    "ossicular_erosion": ({"ossicles"}, {"bone_erosion"}),
    "aditus_widening": ({"aditus"}, {"widened"}),
    "effusion": (None, {"effusion"}),
    "air_fluid_level": (None, {"air_fluid_level"}),
    "bubbles": (None, {"bubbles"}),
    "expansile_lesion": (None, {"expansile"}),
    "bone_thinning": (None, {"bone_thinning"}),
    "facial_canal_widening": ({"facial_canal"}, {"widened"}),
    "jugular_foramen_erosion": ({"jugular_foramen"}, {"widened", "bone_erosion"}),
    "tympanic_mass": (None, {"soft_tissue_mass"}),
}

_PROCESSOR = None
_ROI = BENCHMARK_ROI


def _render_job(spec, size: str) -> tuple[np.ndarray, float, float]:
    """Render one exam and cut both ear ROIs; returns (pixel_values float16 (2, C, D, H, W), render s, cut s)."""
    global _PROCESSOR
    import SimpleITK as sitk

    from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
    from bicpl_hf.synthetic.export import render_exam

    if _PROCESSOR is None:
        _PROCESSOR = BiCPLVolumeProcessor(**_ROI.processor_kwargs())
    started = time.perf_counter()
    exam = render_exam(spec, size)
    rendered = time.perf_counter()
    image = sitk.GetImageFromArray(exam.hu.astype(np.float32))
    image.SetSpacing(exam.spacing)
    image.SetOrigin(exam.origin)
    values, _ = _PROCESSOR.preprocess_image(image)
    return values.astype(np.float16), rendered - started, time.perf_counter() - rendered


def load_cohort(n_exams: int, size: str, seed: int, num_proc: int, cache: Path,
                min_ears_per_code: dict[int, int] | None = None) -> dict:
    """The cohort's ROIs and labels, from `cache` when it exists (same cohort), else rendered and saved.

    Ground truth that needs no rendering (profiles, drawn findings, mastoid type and extent) is always
    recomputed from the specs, so an older cache gains it too.
    """
    specs = sample_cohort(n_exams, seed, min_ears_per_code)
    if cache.exists():
        data = dict(np.load(cache, allow_pickle=False))
        if list(data["exam_ids"]) != [s.exam_id for s in specs]:
            raise ValueError(f"{cache} holds another cohort than n_exams={n_exams}, seed={seed}; delete it or use --out")
    else:
        started = time.perf_counter()
        if num_proc > 1:
            context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
            with ProcessPoolExecutor(max_workers=num_proc, mp_context=context) as pool:
                results = list(pool.map(_render_job, specs, [size] * len(specs), chunksize=4))
        else:
            results = [_render_job(spec, size) for spec in specs]
        data = {
            "pixel_values": np.stack([r[0] for r in results]),
            "codes": np.array([s.codes for s in specs]),
            "patients": np.array([s.patient.patient_id for s in specs]),
            "exam_ids": np.array([s.exam_id for s in specs]),
            "bilateral_variant": np.array([any(v.startswith("bilateral_") for v in s.normal_variant) for s in specs]),
            "render_s": np.array([r[1] for r in results]),
            "roi_s": np.array([r[2] for r in results]),
            "wall_s": np.array(time.perf_counter() - started),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    data["profiles"] = np.array([[s.left.profile, s.right.profile] for s in specs])
    data["finding_free"] = np.array([[not s.left.findings, not s.right.findings] for s in specs])
    data["anatomy_features"] = np.array([[_anatomy_features(s.left), _anatomy_features(s.right)] for s in specs])
    return data


def _anatomy_features(ear) -> list[float]:
    """Ground truth of the cell system an image shows: mastoid type (one-hot) and extent."""
    return [float(ear.mastoid == p) for p in MASTOID_PATTERNS] + [float(ear.pneumatisation)]


# ----------------------------------------------------------------------------- classical features

def region_means(ear: np.ndarray, grid=(2, 3, 2)) -> np.ndarray:
    """Mean of each window channel in a coarse (D, H, W) grid of boxes: where air, fluid and bone sit."""
    means = []
    for channel in ear:
        for d in np.array_split(channel, grid[0], axis=0):
            for h in np.array_split(d, grid[1], axis=1):
                for w in np.array_split(h, grid[2], axis=2):
                    means.append(float(w.mean()))
    return np.asarray(means)


def ear_features(pixel_values: np.ndarray) -> np.ndarray:
    """(n_exams, 2, F): histogram (the shortcut's) + region means of each ear ROI."""
    rows = []
    for exam in pixel_values:
        rows.append([np.concatenate([histogram_features(ear.astype(np.float32)), region_means(ear.astype(np.float32))])
                     for ear in exam])
    return np.asarray(rows)


def cell_system_features(pixel_values: np.ndarray) -> np.ndarray:
    """(n_exams, 2, 2): air fraction (< -80 HU) and mean bone-window value of the ROI's cell-bearing corner.

    The corner is the last 40% of the ROI along H and its last half along W, where the mastoid's cells
    enter the ROI (pneumatised and sclerotic normal ears differ most there). A classical read of the
    cell system: how much of it is air, how dense its bone is.
    """
    names = [w["name"] for w in DEFAULT_WINDOWS]
    soft, bone = names.index("soft_tissue"), names.index("bone")
    window = DEFAULT_WINDOWS[soft]
    air_value = (-80.0 - (window["level"] - window["width"] / 2)) / window["width"]
    _, _, _, h, w = pixel_values.shape[1:]
    corner = pixel_values[:, :, :, :, int(0.6 * h):, w // 2:].astype(np.float32)
    air = (corner[:, :, soft] < air_value).mean(axis=(2, 3, 4))
    return np.stack([air, corner[:, :, bone].mean(axis=(2, 3, 4))], -1)


def _out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Patient-grouped 5-fold out-of-fold probabilities of a balanced, regularised logistic regression."""
    scores = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced"))
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
    return scores


def _paired(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(own, own + partner + own - partner) per ear, ears in exam order (left, right)."""
    n = len(features)
    own = features.reshape(2 * n, -1)
    partner = features[:, ::-1].reshape(2 * n, -1)
    return own, np.concatenate([own, partner, own - partner], 1)


def bilateral_value(features: np.ndarray, data: dict, cell_features: np.ndarray | None = None) -> dict:
    """Normal-vs-diseased out-of-fold AUC and variant false-positive rates, single-ear vs paired features.

    Besides all ears, the AUC is given for the diseased ears whose disease drew no finding (no soft tissue,
    fluid, erosion or mass: mostly inactive CSOM) against all normal ears: the ears where only the cell system,
    read against the partner's, can tell. The same models run on the rendered cell-system features alone
    (`cell_features`, when given) and on the generator's ground-truth cell system (type + extent, no
    rendering), which bounds what any image feature of the cell system could add.
    """
    ear_codes = data["codes"].reshape(-1)
    groups = np.repeat(data["patients"], 2)
    ear_variant = np.repeat(data["bilateral_variant"], 2)
    finding_free = data["finding_free"].reshape(-1)
    normal = ear_codes == 5
    diseased = (~normal).astype(int)
    finding_free_diseased = finding_free & ~normal
    subgroup = normal | finding_free_diseased
    result = {"n_diseased_finding_free": int(finding_free_diseased.sum()), "n_diseased": int(diseased.sum())}
    sources = [("rendered", features), ("ground_truth_cell_system", data["anatomy_features"])]
    if cell_features is not None:
        sources.insert(1, ("rendered_cell_system", cell_features))
    for source, values in sources:
        own, paired = _paired(values)
        for name, x in (("single_ear", own), ("ear_plus_partner", paired)):
            scores = _out_of_fold(x, diseased, groups)
            key = name if source == "rendered" else f"{source}_{name}"
            result[key] = {
                "auc_normal_vs_diseased": round(float(roc_auc_score(diseased, scores)), 4),
                "auc_normal_vs_finding_free_diseased": round(float(roc_auc_score(diseased[subgroup], scores[subgroup])), 4),
                "normal_called_diseased_bilateral_variant": round(float((scores[normal & ear_variant] >= 0.5).mean()), 4),
                "normal_called_diseased_other": round(float((scores[normal & ~ear_variant] >= 0.5).mean()), 4),
                "n_normal_bilateral_variant": int((normal & ear_variant).sum()),
                "n_normal_other": int((normal & ~ear_variant).sum()),
            }
    return result


# ----------------------------------------------------------------------------- composition

def composition(n_exams: int, seed: int) -> dict:
    """Per held-out class: share of its defining findings that training classes show (table and parsed reports)."""
    from bicpl_hf.processing.report_parser import parse_report
    from bicpl_hf.synthetic.reports import write_report

    specs = sample_cohort(n_exams, seed)
    seen: dict[tuple[int, str], int] = {}
    ears: dict[int, int] = {}
    for index, spec in enumerate(specs):
        findings, impression = write_report(spec.left, spec.right, np.random.default_rng([seed, 7, index]))
        report = parse_report(findings=findings, impression=impression)
        mentioned: dict[str, set[str]] = {"left": set(), "right": set()}
        for triple in report.triples:
            if triple.negated or triple.side is None:
                continue
            for name, (entities, attributes) in REPORT_SIGNATURES.items():
                if triple.attribute_key in attributes and (entities is None or triple.entity_key in entities):
                    sides = ("left", "right") if triple.side == "bilateral" else (triple.side,)
                    for side in sides:
                        mentioned[side].add(name)
        for side, ear in (("left", spec.left), ("right", spec.right)):
            ears[ear.code] = ears.get(ear.code, 0) + 1
            for name in mentioned[side]:
                seen[(ear.code, name)] = seen.get((ear.code, name), 0) + 1
    result = {}
    for held_out, names in DEFINING_FINDINGS.items():
        if not names:
            continue
        train = [c for c in CLASS_NAMES_ZH if c != held_out]
        rows = {}
        for name in names:
            table_rate = max(class_rate(name, c) for c in train)
            train_mentions = sum(seen.get((c, name), 0) for c in train)
            train_ears = sum(ears.get(c, 0) for c in train)
            rows[name] = {
                "max_training_class_rate_table": round(table_rate, 4),
                "training_ears_reporting_it": train_mentions,
                "share_of_training_ears_reporting_it": round(train_mentions / max(train_ears, 1), 4),
                "own_class_report_rate": round(seen.get((held_out, name), 0) / max(ears.get(held_out, 0), 1), 4),
            }
        result[held_out] = {
            "share_in_training_table": round(np.mean([r["max_training_class_rate_table"] > 0 for r in rows.values()]), 3),
            "share_in_training_reports": round(np.mean([r["training_ears_reporting_it"] > 0 for r in rows.values()]), 3),
            "findings": rows,
        }
    return result


# ----------------------------------------------------------------------------- 3D CNN

def train_cnn(x_train, y_train, x_test, epochs: int, seed: int, threads: int) -> np.ndarray:
    """A small supervised 3D CNN (3 strided conv blocks, global pooling); returns test-set class probabilities."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    classes = int(y_train.max()) + 1

    def block(cin, cout):
        return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                             nn.Conv3d(cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))

    model = nn.Sequential(block(x_train.shape[1], 12), block(12, 24), block(24, 48), nn.AdaptiveAvgPool3d(1),
                          nn.Flatten(), nn.Dropout(0.2), nn.Linear(48, classes))
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    counts = np.bincount(y_train, minlength=classes).astype(np.float32)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / np.maximum(counts, 1) / classes))
    xt, yt = torch.from_numpy(x_train.astype(np.float32)), torch.from_numpy(y_train.astype(np.int64))
    rng = np.random.default_rng(seed)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=epochs * int(np.ceil(len(xt) / 16)))
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(xt))
        for start in range(0, len(xt), 16):
            index = order[start:start + 16]
            if len(index) < 2:  # batch norm needs two samples
                continue
            batch = xt[index]
            shift = tuple(int(s) for s in rng.integers(-2, 3, 3))  # small translations
            batch = torch.roll(batch, shifts=shift, dims=(2, 3, 4))
            optimiser.zero_grad()
            loss = loss_fn(model(batch), yt[index])
            loss.backward()
            optimiser.step()
            scheduler.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(x_test[i:i + 32].astype(np.float32))) for i in range(0, len(x_test), 32)])
    return torch.softmax(logits, -1).numpy()


def supervised_checks(data: dict, features: np.ndarray, seed: int, epochs: int, threads: int) -> dict:
    """Shortcut (histogram LR) vs 3D CNN on codes 1, 2, 3, 5; and code 2 vs CSOM AUC of both."""
    codes, patients = data["codes"], data["patients"]
    split = GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=seed)
    train_exams, test_exams = next(split.split(codes, groups=patients))

    def ears(exams):
        rows = [(e, s) for e in exams for s in (0, 1) if codes[e, s] in SUPERVISED]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])

    (tr_e, tr_s), (te_e, te_s) = ears(train_exams), ears(test_exams)
    label = {c: i for i, c in enumerate(SUPERVISED)}
    y_train = np.array([label[c] for c in codes[tr_e, tr_s]])
    y_test = np.array([label[c] for c in codes[te_e, te_s]])
    hist = features[..., :32 * data["pixel_values"].shape[2]]  # the shortcut's histogram part (32 bins per window)
    shortcut = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=1.0))
    shortcut.fit(hist[tr_e, tr_s], y_train)
    p_short = shortcut.predict_proba(hist[te_e, te_s])
    started = time.perf_counter()
    p_cnn = train_cnn(data["pixel_values"][tr_e, tr_s], y_train, data["pixel_values"][te_e, te_s], epochs, seed, threads)
    cnn_seconds = time.perf_counter() - started

    profiles = data["profiles"][te_e, te_s]
    two = np.isin(y_test, [label[1], label[2]])
    active = two & (profiles != "csom_inactive")
    resamples = np.random.default_rng(seed).integers(0, two.sum(), (1000, two.sum()))  # ear bootstrap, 95% CI

    def code2_auc(y, p):
        """AUC of code 2 vs CSOM from the two classes' renormalised probabilities (nan without both classes)."""
        if len(set(y)) < 2:
            return float("nan")
        return float(roc_auc_score(y == label[2], p[:, label[2]] / (p[:, label[1]] + p[:, label[2]] + 1e-9)))

    def summary(p):
        predicted = p.argmax(1)
        boot = [code2_auc(y_test[two][r], p[two][r]) for r in resamples]
        return {"accuracy": round(float(accuracy_score(y_test, predicted)), 4),
                "macro_f1": round(float(f1_score(y_test, predicted, average="macro")), 4),
                "auc_code2_vs_csom": round(code2_auc(y_test[two], p[two]), 4),
                "auc_code2_vs_csom_95ci": [round(float(np.nanpercentile(boot, q)), 4) for q in (2.5, 97.5)],
                "auc_code2_vs_active_csom": round(code2_auc(y_test[active], p[active]), 4)}

    return {"train_ears": len(y_train), "test_ears": len(y_test),
            "test_code2_ears": int((y_test == label[2]).sum()), "test_csom_ears": int((y_test == label[1]).sum()),
            "test_active_csom_ears": int((active & (y_test == label[1])).sum()),
            "histogram_logistic_regression": summary(p_short), "cnn_3d": summary(p_cnn),
            "cnn_epochs": epochs, "cnn_train_seconds": round(cnn_seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-exams", type=int, default=240)
    parser.add_argument("--size", default=BENCHMARK_ROI.size, help="synthetic size (default: the benchmark's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--num-proc", type=int, default=2, help="render workers")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the CNN")
    parser.add_argument("--composition-exams", type=int, default=2000, help="exams whose reports are parsed")
    parser.add_argument("--out", default="outputs/benchmark_properties")
    parser.add_argument("--roi-shape", type=int, nargs=3, help="override BENCHMARK_ROI's (D, H, W) voxels")
    parser.add_argument("--roi-size-mm", type=float, nargs=3, help="override BENCHMARK_ROI's (D, H, W) mm")
    parser.add_argument("--skip-cnn", action="store_true", help="only the classical and composition checks")
    parser.add_argument("--min-ears", nargs="*", default=[], metavar="CODE=N",
                        help="guarantee N ears of class CODE in the cohort (e.g. 2=150 for a tighter code 2 vs CSOM AUC)")
    args = parser.parse_args()
    try:
        min_ears = {int(k): int(v) for k, v in (item.split("=") for item in args.min_ears)}
    except ValueError:
        parser.error(f"--min-ears takes CODE=N pairs such as 2=150, got {args.min_ears}")
    global _ROI
    if args.roi_shape or args.roi_size_mm:
        _ROI = BenchmarkROI(args.size, tuple(args.roi_shape or BENCHMARK_ROI.roi_shape),
                            tuple(args.roi_size_mm or BENCHMARK_ROI.roi_size_mm))
    out = Path(args.out)
    started = time.perf_counter()

    composed = composition(args.composition_exams, args.seed)
    roi_tag = "x".join(str(v) for v in _ROI.roi_shape) + "_" + "x".join(f"{v:g}" for v in _ROI.roi_size_mm)
    min_tag = "".join(f"_min{code}x{n}" for code, n in sorted(min_ears.items()))
    # The generator's source hash: an edited generator renders anew instead of pairing old images with new truth.
    generator = generator_fingerprint()
    cache = out / f"cohort_{args.size}_{args.n_exams}_seed{args.seed}{min_tag}_roi{roi_tag}_gen{generator}.npz"
    data = load_cohort(args.n_exams, args.size, args.seed, args.num_proc, cache, min_ears)
    features = ear_features(data["pixel_values"])
    bilateral = bilateral_value(features, data, cell_system_features(data["pixel_values"]))
    supervised = None if args.skip_cnn else supervised_checks(data, features, args.seed, args.epochs, args.threads)

    result = {
        "settings": {"n_exams": args.n_exams, "size": args.size, "seed": args.seed, "roi_shape": _ROI.roi_shape,
                     "roi_size_mm": _ROI.roi_size_mm, "epochs": args.epochs,
                     "composition_exams": args.composition_exams, "min_ears_per_code": min_ears},
        "generation": {"render_s_per_exam": round(float(data["render_s"].mean()), 3),
                       "roi_s_per_exam": round(float(data["roi_s"].mean()), 3), "wall_s": round(float(data["wall_s"]), 1),
                       "cache": str(cache), "generator": generator},
        "shortcut_and_difficulty": supervised,
        "bilateral_value": bilateral,
        "composition": composed,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark_properties.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")

    s, b = supervised or {}, bilateral
    print(f"cohort: {args.n_exams} exams, size {args.size}, seed {args.seed}, ROI {_ROI.roi_shape} over "
          f"{_ROI.roi_size_mm} mm; supervised test ears (codes 1,2,3,5) {s.get('test_ears')} "
          f"(code 2: {s.get('test_code2_ears')}, CSOM: {s.get('test_csom_ears')})")
    print("| check | figure |\n|---|---|")
    for name, key in (("histogram LR", "histogram_logistic_regression"), ("3D CNN", "cnn_3d")) if s else ():
        m = s[key]
        print(f"| {name}: accuracy / macro-F1 (codes 1,2,3,5) | {m['accuracy']:.3f} / {m['macro_f1']:.3f} |")
        low, high = m["auc_code2_vs_csom_95ci"]
        print(f"| {name}: AUC code 2 vs CSOM (95% CI) / vs active CSOM | {m['auc_code2_vs_csom']:.3f} "
              f"({low:.3f}-{high:.3f}) / {m['auc_code2_vs_active_csom']:.3f} |")
    for name, key in (("single-ear features", "single_ear"), ("ear + mirrored partner", "ear_plus_partner"),
                      ("cell-system features, single ear", "rendered_cell_system_single_ear"),
                      ("cell-system features + partner", "rendered_cell_system_ear_plus_partner"),
                      ("ground-truth cell system, single ear", "ground_truth_cell_system_single_ear"),
                      ("ground-truth cell system + partner", "ground_truth_cell_system_ear_plus_partner")):
        m = b[key]
        print(f"| {name}: normal-vs-diseased AUC, all / finding-free diseased (n={b['n_diseased_finding_free']}) | "
              f"{m['auc_normal_vs_diseased']:.3f} / {m['auc_normal_vs_finding_free_diseased']:.3f} |")
        print(f"| {name}: normal ears of bilateral-variant exams called diseased | "
              f"{m['normal_called_diseased_bilateral_variant']:.3f} (n={m['n_normal_bilateral_variant']}; other normal "
              f"ears {m['normal_called_diseased_other']:.3f}, n={m['n_normal_other']}) |")
    for code, c in composed.items():
        print(f"| held out {code}: defining findings present in training classes (table / reports) | "
              f"{c['share_in_training_table']:.2f} / {c['share_in_training_reports']:.2f} |")
    print(f"total {result['total_seconds']} s; JSON: {out / 'benchmark_properties.json'}")


if __name__ == "__main__":
    main()
