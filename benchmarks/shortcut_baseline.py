"""Is the synthetic benchmark too easy? A shortcut classifier against the small 3D CNN, on the same split.

The shortcut is a logistic regression on per-ear intensity histograms of the ear ROIs (both HU windows, 32 bins
each: a histogram of the ROI's HU values); the CNN is the experiment runner's `vision_cnn` variant. Both train on the
Setting A training ears (codes 1, 2, 3, 5) and are scored on the same test ears. If the histogram model came close to
the CNN, the lesions would be recognisable from intensity alone and the benchmark would reward shortcuts.

    python benchmarks/shortcut_baseline.py BUILT_DATASET_DIR [--cnn-predictions predictions_vision_cnn_A.npz]

The CNN row comes from the runner's saved predictions (`bicpl experiments BUILT --variants vision_cnn --settings A`
writes `predictions_vision_cnn_A.npz`), restricted to the same test ears and to the same four classes.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SUPERVISED = (1, 2, 3, 5)


def histogram_features(ear_volume: np.ndarray, bins: int = 32) -> np.ndarray:
    """The shortcut's features of one ear ROI `(C, D, H, W)` (windows in [0, 1]): `C * bins` normalised counts."""
    return np.concatenate([np.histogram(ear_volume[c], bins=bins, range=(0.0, 1.0))[0] / ear_volume[c].size
                           for c in range(ear_volume.shape[0])])


def ear_histograms(dataset, bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per-ear features `(n_ears, channels * bins)` and codes `(n_ears,)` for the labelled ears of `dataset`."""
    features, codes = [], []
    for example in dataset.with_format("numpy", columns=["pixel_values"], output_all_columns=True):
        volume = np.asarray(example["pixel_values"], dtype=np.float32)  # (2, C, D, H, W), windows in [0, 1]
        for ear, code in enumerate((int(example["left_code"]), int(example["right_code"]))):
            if code not in SUPERVISED:
                continue
            features.append(histogram_features(volume[ear], bins))
            codes.append(code)
    return np.asarray(features), np.asarray(codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="output folder of build_dataset.py")
    parser.add_argument("--cnn-predictions", help="predictions_vision_cnn_A.npz written by `bicpl experiments`")
    args = parser.parse_args()
    from bicpl_hf.data.splits import load_built_dataset, setting_view

    view = setting_view(load_built_dataset(args.dataset), "A")
    x_train, y_train = ear_histograms(view["train"])
    x_test, y_test = ear_histograms(view["test"])
    shortcut = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    shortcut.fit(x_train, y_train)
    predicted = shortcut.predict(x_test)
    majority = np.bincount(y_train).argmax()
    rows = [
        ("majority class", accuracy_score(y_test, np.full_like(y_test, majority)), f1_score(
            y_test, np.full_like(y_test, majority), average="macro", labels=list(SUPERVISED), zero_division=0)),
        ("logistic regression on HU histograms", accuracy_score(y_test, predicted),
         f1_score(y_test, predicted, average="macro", labels=list(SUPERVISED), zero_division=0)),
    ]
    if args.cnn_predictions:
        saved = np.load(args.cnn_predictions)
        codes = list(saved["class_codes"])
        columns = [codes.index(c) for c in SUPERVISED]
        logits, labels = saved["logits"].reshape(-1, len(codes)), saved["labels"].reshape(-1)
        keep = np.isin(labels, SUPERVISED)
        cnn_predicted = np.asarray(SUPERVISED)[logits[keep][:, columns].argmax(-1)]
        if keep.sum() != len(y_test):
            raise ValueError(f"the CNN predictions hold {keep.sum()} supervised test ears, the histograms {len(y_test)}")
        rows.append(("3D CNN (vision_cnn)", accuracy_score(labels[keep], cnn_predicted),
                     f1_score(labels[keep], cnn_predicted, average="macro", labels=list(SUPERVISED), zero_division=0)))
    print(f"train ears {len(y_train)}, test ears {len(y_test)} (codes {SUPERVISED})")
    print("| model | accuracy | macro-F1 |\n|---|---|---|")
    for name, accuracy, macro_f1 in rows:
        print(f"| {name} | {accuracy:.3f} | {macro_f1:.3f} |")


if __name__ == "__main__":
    main()
