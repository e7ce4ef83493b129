"""Why Bi-CPL v3's region head did not detect fluid (issue 22), measured on a DEVELOPMENT cohort's build before the
detectors' context was chosen: the region head's own density features (`RegionDensityFeatures`, a fixed measurement,
no training), read on the train and validation splits, and a logistic regression per attribute fitted on the training
exams without the development class (code 3), scored on the validation ears, with three inputs:

- every region of the ear (and its difference from the partner ear's): what `region_detector_context=["ear_regions"]`
  gives a detector;
- the tympanic regions only (tympanic cavity, hypotympanum): what a "鼓室积液" detector read as first scored;
- the aditus and antrum alone.

Labels are each ear's attributes as its report states them (`left_attributes` / `right_attributes`). The test split and
test cohorts are never read: a build of a test cohort (data seed >= 1000) is refused.

Usage:
    python benchmarks/probe_fluid_detection.py --build CACHE/data-KEY [--out probe_fluid.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ATTRIBUTES = ("effusion", "air_fluid_level", "bubbles", "soft_tissue", "bone_erosion")
INPUTS = {"every region of the ear": None, "tympanic regions": ("tympanic_cavity", "hypotympanum"),
          "aditus and antrum": ("aditus_antrum",)}


def main() -> None:
    import datasets
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from bicpl_hf.data.splits import load_built_dataset
    from bicpl_hf.knowledge.soft_labels import ATTRIBUTE_VOCABULARY
    from bicpl_hf.modeling.modeling_bicpl_regions import EAR_REGIONS, ENTITY_REGIONS, RegionDensityFeatures
    from bicpl_hf.training.zero_shot_protocol import DEVELOPMENT_CLASS, is_test_cohort

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="a cached benchmark folder of a development cohort")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    folder = Path(args.build)
    data_seed = json.loads((folder / "complete.json").read_text(encoding="utf-8"))["data"]["data_seed"]
    if is_test_cohort(data_seed):
        raise SystemExit(f"error: {folder} is test cohort {data_seed}; probes read development cohorts only")

    config = json.loads((folder / "built" / "preprocessor_config.json").read_text(encoding="utf-8"))
    geometry = {key: config.get(key) for key in ("roi_shape", "roi_size_mm", "windows", "coarse_roi_size_mm",
                                                 "coarse_roi_offset_mm")}
    regions = sorted({r for names in ENTITY_REGIONS.values() for r in names}, key=list(EAR_REGIONS).index)
    density = RegionDensityFeatures(geometry, regions)
    built = load_built_dataset(folder / "built")
    rows = datasets.concatenate_datasets([built["train"], built["validation"]])
    rows = rows.with_format("numpy", columns=["pixel_values"], output_all_columns=True)
    features, attributes, codes = [], [], []
    for start in range(0, len(rows), 16):
        batch = rows[start : start + 16]
        features.append(density(torch.as_tensor(np.stack(batch["pixel_values"]))).numpy())
        attributes += [[left, right] for left, right in zip(batch["left_attributes"], batch["right_attributes"])]
        codes += [[left, right] for left, right in zip(batch["left_code"], batch["right_code"])]
    features, attributes, codes = np.concatenate(features), np.asarray(attributes, float), np.asarray(codes)
    n_exams, n_train = len(codes), len(built["train"])
    in_train = np.repeat(np.arange(n_exams) < n_train, 2) & ~np.repeat((codes == DEVELOPMENT_CLASS).any(1), 2)
    in_validation = np.repeat(np.arange(n_exams) >= n_train, 2)
    ears = codes.reshape(-1)
    lookalike = in_validation & np.isin(ears, [1, DEVELOPMENT_CLASS])

    results = {}
    for name, chosen in INPUTS.items():
        index = list(range(len(density.in_view))) if chosen is None else [density.in_view.index(r) for r in chosen]
        own = features[:, :, index].mean(2, keepdims=chosen is not None).reshape(n_exams, 2, -1)
        x = np.concatenate([own, own - own[:, ::-1]], -1).reshape(n_exams * 2, -1)
        x = StandardScaler().fit(x[in_train]).transform(x)
        for attribute in ATTRIBUTES:
            y = attributes[..., ATTRIBUTE_VOCABULARY.index(attribute)].reshape(-1) > 0.5
            fit = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000).fit(x[in_train], y[in_train])
            score = fit.decision_function(x)
            results[f"{name} / {attribute}"] = {
                "training positives": int(y[in_train].sum()),
                "validation AUC": round(float(roc_auc_score(y[in_validation], score[in_validation])), 3),
                f"code {DEVELOPMENT_CLASS} vs CSOM": round(float(roc_auc_score(
                    ears[lookalike] == DEVELOPMENT_CLASS, score[lookalike])), 3),
            }
    lines = [f"Development cohort {data_seed}, validation ears; logistic regression on the region head's density "
             f"features, fitted without code {DEVELOPMENT_CLASS}:", "",
             "| input / attribute | training positives | validation AUC | code 3 vs CSOM |", "|---|---|---|---|"]
    lines += [f"| {key} | " + " | ".join(str(v) for v in value.values()) + " |" for key, value in results.items()]
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
