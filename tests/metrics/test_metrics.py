# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Tests of the ear-level metric module, the Trainer glue and the plots, checked against scikit-learn."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from transformers import EvalPrediction

from bicpl_hf.metrics import (
    METRIC_SCRIPT_PATH,
    compute_ear_metrics,
    flatten_exam_predictions,
    load_ear_metrics,
    make_compute_metrics,
    plots,
    retrieval_recall_at_k,
)
from bicpl_hf.metrics.bicpl_ear_metrics import exam_bootstrap_weights, softmax, weighted_one_vs_rest_auc

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMES_ZH = ["慢性化脓性中耳炎", "中耳胆脂瘤", "分泌性中耳炎", "胆固醇肉芽肿", "正常", "其他"]
CODES = [1, 2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def metric():
    return load_ear_metrics()


@pytest.fixture(scope="module")
def ear_data():
    """120 ears of 60 exams, 6 classes (all present), logits informative but imperfect."""
    rng = np.random.default_rng(1234)
    references = np.concatenate([np.arange(6), rng.integers(0, 6, 114)])
    logits = rng.normal(size=(120, 6))
    logits[np.arange(120), references] += 1.5
    return softmax(logits), references, np.repeat(np.arange(60), 2)


# ----------------------------------------------------------------------------------------------- point metrics


@pytest.mark.smoke
def test_matches_sklearn_on_random_data(metric, ear_data):
    probabilities, references, _ = ear_data
    result = metric.compute(predictions=probabilities, references=references, class_names=NAMES_ZH)
    predicted = probabilities.argmax(axis=1)

    assert result["n_ears"] == 120
    assert result["accuracy"] == pytest.approx(accuracy_score(references, predicted), abs=1e-12)
    assert result["macro_f1"] == pytest.approx(f1_score(references, predicted, average="macro"), abs=1e-12)
    precision, recall, f1, support = precision_recall_fscore_support(
        references, predicted, labels=list(range(6)), zero_division=0
    )
    for c, name in enumerate(NAMES_ZH):
        assert result[f"precision/{name}"] == pytest.approx(precision[c], abs=1e-12)
        assert result[f"recall/{name}"] == pytest.approx(recall[c], abs=1e-12)
        assert result[f"f1/{name}"] == pytest.approx(f1[c], abs=1e-12)
        assert result[f"support/{name}"] == support[c]
        assert result[f"auc/{name}"] == pytest.approx(roc_auc_score(references == c, probabilities[:, c]), abs=1e-12)
    expected_macro_auc = roc_auc_score(references, probabilities, multi_class="ovr", average="macro")
    assert result["auc_macro"] == pytest.approx(expected_macro_auc, abs=1e-12)
    assert json.loads(json.dumps(result)) == result


def test_auc_with_ties_matches_sklearn(metric, ear_data):
    probabilities, references, _ = ear_data
    # Keep ties: coarse scores in a 2-class problem (class 0 vs the rest, rows still sum to 1).
    coarse = np.round(probabilities[:, 0], 1)
    two_class = np.stack([coarse, 1.0 - coarse], axis=1)
    labels = (references != 0).astype(int)
    result = metric.compute(predictions=two_class, references=labels)
    assert result["auc/class_0"] == pytest.approx(roc_auc_score(labels == 0, coarse), abs=1e-12)


def test_hand_case_absent_and_never_true_classes(metric):
    # Class 2 is predicted but never true, class 3 is neither: macro-F1 runs over {0, 1, 2} like sklearn's default.
    probabilities = np.array([[0.7, 0.2, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0], [0.2, 0.1, 0.7, 0.0], [0.6, 0.3, 0.1, 0.0]])
    references = np.array([0, 1, 1, 0])
    result = metric.compute(predictions=probabilities, references=references, class_names=list("abcd"))
    predicted = probabilities.argmax(axis=1)
    assert result["accuracy"] == 0.75
    assert result["macro_f1"] == pytest.approx(f1_score(references, predicted, average="macro", zero_division=0))
    assert result["macro_f1"] == pytest.approx((1.0 + 2.0 / 3.0 + 0.0) / 3.0)
    assert result["precision/c"] == 0.0 and result["recall/c"] == 0.0
    assert "precision/d" not in result and result["support/d"] == 0
    # AUC only where a class has both positive and negative ears; the mean over those two.
    assert set(k for k in result if k.startswith("auc/")) == {"auc/a", "auc/b"}
    assert result["auc_macro"] == pytest.approx((result["auc/a"] + result["auc/b"]) / 2)
    assert all(isinstance(v, int | float) and np.isfinite(v) for v in result.values())


def test_tail_and_zero_shot(metric, ear_data):
    probabilities, references, _ = ear_data
    predicted = probabilities.argmax(axis=1)
    result = metric.compute(
        predictions=probabilities, references=references, class_names=NAMES_ZH, tail_classes=[3, 5],
        zero_shot_classes=[1, 3],
    )  # fmt: skip
    assert result["tail_recall"] == pytest.approx(recall_score(references, predicted, labels=[3, 5], average="macro"))
    assert result["tail_precision"] == pytest.approx(
        precision_score(references, predicted, labels=[3, 5], average="macro", zero_division=0)
    )
    for c in (1, 3):
        expected = roc_auc_score(references == c, probabilities[:, c])
        assert result[f"zero_shot_auc/{NAMES_ZH[c]}"] == pytest.approx(expected, abs=1e-12)
    assert result["zero_shot_auc"] == pytest.approx(
        (result[f"zero_shot_auc/{NAMES_ZH[1]}"] + result[f"zero_shot_auc/{NAMES_ZH[3]}"]) / 2
    )


def test_zero_shot_class_without_positives_warns_and_is_omitted(metric):
    with pytest.warns(UserWarning, match="zero-shot AUC of class 'class_2' is undefined"):
        result = metric.compute(
            predictions=[[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]], references=[0, 1], zero_shot_classes=[2]
        )
    assert "zero_shot_auc" not in result and "zero_shot_auc/class_2" not in result


def test_from_logits_equals_softmax_probabilities(metric, ear_data):
    probabilities, references, _ = ear_data
    logits = np.log(probabilities) + 3.0
    assert metric.compute(predictions=logits, references=references, from_logits=True) == pytest.approx(
        metric.compute(predictions=probabilities, references=references)
    )


def test_add_batch_accumulates(metric, ear_data):
    probabilities, references, _ = ear_data
    for start in range(0, 120, 50):
        metric.add_batch(predictions=probabilities[start : start + 50], references=references[start : start + 50])
    assert metric.compute() == metric.compute(predictions=probabilities, references=references)


# ----------------------------------------------------------------------------------------------- retrieval


def test_recall_at_k_hand_case(metric):
    similarity = np.array(
        [
            [0.9, 0.1, 0.2],  # image 0: its report ranks first
            [0.5, 0.4, 0.6],  # image 1: its report ranks third
            [0.3, 0.7, 0.7],  # image 2: tied with report 1, ties count against -> rank 2
        ]
    )
    assert retrieval_recall_at_k(similarity, [1, 2, 3]) == {
        "i2t_recall@1": pytest.approx(1 / 3),
        "i2t_recall@2": pytest.approx(2 / 3),
        "i2t_recall@3": 1.0,
        # Columns: report 0 is top (0.9); report 1 (0.4) is below image 2's 0.7 -> rank 2; report 2 top.
        "t2i_recall@1": pytest.approx(2 / 3),
        "t2i_recall@2": 1.0,
        "t2i_recall@3": 1.0,
    }
    result = metric.compute(
        predictions=[[1.0, 0.0], [0.0, 1.0]], references=[0, 1], similarity=similarity, recall_k=[1]
    )
    assert result["i2t_recall@1"] == pytest.approx(1 / 3) and result["n_retrieval_pairs"] == 3
    assert retrieval_recall_at_k(np.ones((4, 4)), [1, 4]) == {
        "i2t_recall@1": 0.0, "i2t_recall@4": 1.0, "t2i_recall@1": 0.0, "t2i_recall@4": 1.0,
    }  # fmt: skip


# ----------------------------------------------------------------------------------------------- bootstrap


def test_weighted_auc_equals_auc_of_duplicated_data(ear_data):
    probabilities, references, _ = ear_data
    weights = np.random.default_rng(5).integers(0, 4, size=(3, 120)).astype(float)
    aucs = weighted_one_vs_rest_auc(probabilities[:, 2], references == 2, weights)
    for row, value in zip(weights.astype(int), aucs):
        repeated = np.repeat(np.arange(120), row)
        assert value == pytest.approx(roc_auc_score(references[repeated] == 2, probabilities[repeated, 2]), abs=1e-12)


def test_bootstrap_ci_contains_point_and_is_deterministic(metric, ear_data):
    probabilities, references, exams = ear_data
    kwargs = dict(
        predictions=probabilities, references=references, exam_ids=exams, tail_classes=[3], zero_shot_classes=[1],
        bootstrap=300,
    )  # fmt: skip
    first = metric.compute(seed=7, **kwargs)
    assert first == metric.compute(seed=7, **kwargs)
    assert first != metric.compute(seed=8, **kwargs)
    assert first["n_bootstrap"] == 300 and first["n_exams"] == 60
    for key in ("accuracy", "macro_f1", "auc_macro", "tail_recall", "tail_precision", "zero_shot_auc"):
        assert first[f"{key}_ci_low"] <= first[key] <= first[f"{key}_ci_high"], key
        assert first[f"{key}_ci_low"] < first[f"{key}_ci_high"], key
    narrow = metric.compute(seed=7, confidence=0.5, **kwargs)
    assert first["accuracy_ci_low"] <= narrow["accuracy_ci_low"] <= narrow["accuracy_ci_high"]
    assert narrow["accuracy_ci_high"] <= first["accuracy_ci_high"]


def test_bootstrap_keeps_both_ears_of_an_exam_together(metric):
    exams = np.repeat(np.arange(5), 2)
    weights = exam_bootstrap_weights(exams, 200, np.random.default_rng(0))
    assert np.array_equal(weights[:, 0::2], weights[:, 1::2])
    assert np.all(weights.sum(axis=1) == 10)

    # Both ears of an exam are right or wrong together: resampling exams has half the effective sample
    # size of resampling ears, so its CI is about sqrt(2) wider.
    n_exams = 100
    correct = np.repeat(np.random.default_rng(3).random(n_exams) < 0.6, 2)
    references = np.zeros(2 * n_exams, dtype=int)
    probabilities = np.where(correct[:, None], [[0.9, 0.1]], [[0.1, 0.9]])
    common = dict(predictions=probabilities, references=references, bootstrap=2000, seed=0)
    by_exam = metric.compute(exam_ids=np.repeat(np.arange(n_exams), 2), **common)
    by_ear = metric.compute(exam_ids=np.arange(2 * n_exams), **common)
    width = lambda r: r["accuracy_ci_high"] - r["accuracy_ci_low"]  # noqa: E731
    assert by_exam["accuracy"] == by_ear["accuracy"]
    assert 1.25 < width(by_exam) / width(by_ear) < 1.6


def test_bootstrap_warns_about_resamples_where_auc_is_undefined(metric):
    # One positive exam of class 1 among 6: about a third of resamples miss it.
    probabilities = [[0.8, 0.2]] * 10 + [[0.3, 0.7]] * 2
    references = [0] * 10 + [1] * 2
    with pytest.warns(UserWarning, match=r"auc_macro is undefined in \d+ of 200 bootstrap resamples"):
        result = metric.compute(
            predictions=probabilities, references=references, exam_ids=np.repeat(np.arange(6), 2), bootstrap=200
        )
    assert result["auc_macro_ci_low"] == result["auc_macro_ci_high"] == 1.0


# ----------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(predictions=[[0.5, 0.5]] * 3, references=[0, 1]), r"shape \(3, 2\) but references has shape \(2,\)"),
        (dict(predictions=[0.5, 0.5], references=[0, 1]), r"shape \(N, K\) with K >= 1, got shape \(2,\)"),
        (dict(predictions=[[0.5, 0.7]], references=[0]), "row 0 is not a probability vector.*from_logits=True"),
        (dict(predictions=[[0.5, np.nan]], references=[0]), "row 0 holds a non-finite value"),
        (dict(predictions=[[0.5, 0.5]], references=[2]), r"references\[0\] = 2 is not a class index in \[0, 2\)"),
        (dict(predictions=[[0.5, 0.5]], references=[-100]), "unknown ears marked -100 must be dropped"),
        (dict(predictions=[[0.5, 0.5]], references=[0.5]), r"integer class indices; references\[0\] = 0.5"),
        (dict(predictions=[[0.5, 0.5]], references=[0], class_names=["a"]), "class_names has 1 names but .* K = 2"),
        (dict(predictions=[[0.5, 0.5]], references=[0], class_names=["a", "a"]), "unique.*'a'"),
        (dict(predictions=[[0.5, 0.5]], references=[0], bootstrap=10), "needs exam_ids"),
        (dict(predictions=[[0.5, 0.5]], references=[0], exam_ids=[1, 2]), "exam_ids has 2 entries but there are 1"),
        (dict(predictions=[[0.5, 0.5]], references=[0], tail_classes=[2]), r"tail_classes holds 2.*\[0, 2\)"),
        (dict(predictions=[[0.5, 0.5]], references=[0], confidence=95), "confidence must lie strictly between"),
        (dict(predictions=[[0.5, 0.5]], references=[0], similarity=np.ones((2, 3))), r"square.*\(2, 3\)"),
        (dict(predictions=[[0.5, 0.5]], references=[0], similarity=np.eye(2), recall_k=[0]), "recall_k"),
    ],
)
def test_clear_errors(metric, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(**kwargs)
    # The module stays usable after a failed call.
    assert metric.compute(predictions=[[0.9, 0.1], [0.1, 0.9]], references=[0, 1])["accuracy"] == 1.0


def test_ragged_batches_are_named(metric):
    metric.add_batch(predictions=[[0.5, 0.5]], references=[0])
    metric.add_batch(predictions=[[0.2, 0.3, 0.5]], references=[0])
    with pytest.raises(ValueError, match="row 0 has 2 but row 1 has 3"):
        metric.compute()


# ----------------------------------------------------------------------------------------------- Trainer glue


@pytest.mark.filterwarnings("ignore:auc_macro is undefined in:UserWarning")
def test_compute_metrics_ignores_unknown_ears_and_maps_codes():
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(30, 2, 6))
    codes = rng.choice(CODES, size=(30, 2))
    codes[::4, 1] = -100
    codes[3, 0] = -100
    compute_metrics = make_compute_metrics(
        CODES, class_names=NAMES_ZH, tail_codes=[4], zero_shot_codes=[2], bootstrap=50, seed=1
    )
    result = compute_metrics(EvalPrediction(predictions=(logits, rng.normal(size=(30, 8))), label_ids=codes))

    keep = codes != -100
    indices = np.searchsorted(CODES, codes[keep])
    probabilities = softmax(logits[keep])
    assert result["n_ears"] == int(keep.sum()) == 60 - 8 - 1
    assert result["n_exams"] == 30
    assert result["accuracy"] == pytest.approx(accuracy_score(indices, probabilities.argmax(axis=1)))
    assert result[f"zero_shot_auc/{NAMES_ZH[1]}"] == pytest.approx(roc_auc_score(indices == 1, probabilities[:, 1]))
    assert result[f"support/{NAMES_ZH[3]}"] == int(np.sum(codes == 4))
    assert "accuracy_ci_low" in result
    expected = compute_ear_metrics(
        probabilities, indices, class_names=NAMES_ZH, exam_ids=np.nonzero(keep)[0], tail_classes=[3],
        zero_shot_classes=[1], bootstrap=50, seed=1,
    )  # fmt: skip
    assert result == pytest.approx(expected)


def test_compute_metrics_default_names_are_codes():
    compute_metrics = make_compute_metrics([1, 5])
    logits = np.array([[[2.0, 0.0], [0.0, 2.0]]])
    result = compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([[1, 5]])))
    assert result["recall/1"] == result["recall/5"] == result["auc/5"] == 1.0


def test_flatten_and_compute_metrics_errors():
    with pytest.raises(ValueError, match=r"label_ids\[1, 1\] \(right ear of exam row 1\) = 7"):
        flatten_exam_predictions(np.zeros((2, 2, 3)), np.array([[1, 2], [3, 7]]), [1, 2, 3])
    with pytest.raises(ValueError, match=r"shape \(N_exams, 2, K=3\).*got shape \(2, 3\)"):
        flatten_exam_predictions(np.zeros((2, 3)), np.array([[1, 2], [3, 1]]), [1, 2, 3])
    with pytest.raises(ValueError, match=r"label_ids must have shape \(N_exams, 2\)"):
        flatten_exam_predictions(np.zeros((2, 2, 3)), np.array([1, 2]), [1, 2, 3])
    with pytest.raises(ValueError, match=r"zero_shot_codes \[9\] are not in class_codes"):
        make_compute_metrics([1, 2], zero_shot_codes=[9])
    compute_metrics = make_compute_metrics([1, 2])
    with pytest.raises(ValueError, match="every ear in label_ids is ignore_index"):
        compute_metrics(EvalPrediction(predictions=np.zeros((1, 2, 2)), label_ids=np.full((1, 2), -100)))


def test_loads_by_local_path_offline_in_fresh_process(tmp_path):
    """The user's situation: no Hub, an empty HF cache, and any network attempt fails fast."""
    script = f"""
import json, evaluate
from bicpl_hf.metrics import load_ear_metrics
metric = load_ear_metrics()
direct = evaluate.load({str(METRIC_SCRIPT_PATH)!r})
args = dict(predictions=[[0.9, 0.1], [0.4, 0.6], [0.3, 0.7]], references=[0, 1, 0])
print(json.dumps([metric.compute(**args), direct.compute(**args)]))
"""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1", HF_EVALUATE_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", PYTHONPATH=str(REPO_ROOT),
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, encoding="utf-8",
                          errors="replace", timeout=120)
    assert done.returncode == 0, done.stderr
    from_wrapper, from_path = json.loads(done.stdout.strip().splitlines()[-1])
    assert from_wrapper == from_path
    assert from_wrapper["accuracy"] == pytest.approx(2 / 3) and from_wrapper["auc/class_0"] == 0.5
    assert list((tmp_path / "hf").rglob("bicpl_ear_metrics.py")), "evaluate did not use the fresh module cache"


# ----------------------------------------------------------------------------------------------- plots


def _write_test_cjk_font(path: Path, characters: str) -> Path:
    """A minimal TrueType font (one box per glyph) for exactly `characters`, built with fontTools."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    characters = sorted(set(characters) | {" "})
    names = [".notdef"] + [f"uni{ord(c):04X}" for c in characters]
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        if name != "uni0020":
            pen.moveTo((100, 0)), pen.lineTo((100, 700)), pen.lineTo((800, 700)), pen.lineTo((800, 0)), pen.closePath()
        glyphs[name] = pen.glyph()
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({ord(c): f"uni{ord(c):04X}" for c in characters})
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics({name: (900, 100) for name in names})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": "BicplTestHei", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    builder.setupPost()
    builder.save(str(path))
    return path


def _missing_glyph_warnings(records) -> list[str]:
    return [str(r.message) for r in records if "missing from" in str(r.message)]


@pytest.fixture()
def predictions_for_plots():
    rng = np.random.default_rng(2)
    references = rng.integers(0, 5, 60)  # class 5 ("other") never occurs: no ROC for it
    logits = rng.normal(size=(60, 6))
    logits[np.arange(60), references] += 2.0
    return softmax(logits), references


def test_plots_fall_back_to_english_without_cjk_font(tmp_path, monkeypatch, predictions_for_plots):
    monkeypatch.setattr(plots, "find_font_for_text", lambda text, font_paths=None: None)
    probabilities, references = predictions_for_plots
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        roc = plots.plot_roc_curves(probabilities, references, NAMES_ZH, tmp_path / "roc.png")
        matrix = plots.plot_confusion_matrix(references, probabilities.argmax(1), NAMES_ZH, tmp_path / "out/cm.png")
    assert _missing_glyph_warnings(records) == []
    english = ["CSOM", "cholesteatoma", "SOM", "cholesterol granuloma", "normal", "other"]
    assert [t.get_text() for t in matrix.axes[0].get_yticklabels()] == english
    legend = [t.get_text() for t in roc.axes[0].get_legend().get_texts()]
    assert len(legend) == 5 and legend[0].startswith("CSOM (AUC ")
    assert any("no ROC" in t.get_text() and "other" in t.get_text() for t in roc.axes[0].texts)
    for png in (tmp_path / "roc.png", tmp_path / "out/cm.png"):
        assert matplotlib.image.imread(png).ndim == 3
    # The colours are the row shares of sklearn's confusion matrix.
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(references, probabilities.argmax(1), labels=range(6))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    assert np.allclose(matrix.axes[0].images[0].get_array(), shares)


def test_plots_use_a_cjk_font_and_skip_placeholder_fonts(tmp_path, predictions_for_plots):
    text = "".join(NAMES_ZH) + string.printable.strip()
    font = _write_test_cjk_font(tmp_path / "test_hei.ttf", text)
    default_font = plots.font_manager.findfont(plots.FontProperties())
    last_resort = Path(matplotlib.get_data_path()) / "fonts/ttf/LastResortHE-Regular.ttf"
    candidates = [default_font] + ([last_resort] if last_resort.is_file() else [])
    assert plots.find_font_for_text("正常", candidates) is None
    assert plots.find_font_for_text("正常", candidates + [font]) == str(font)

    probabilities, references = predictions_for_plots
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        matrix = plots.plot_confusion_matrix(
            references, probabilities.argmax(1), NAMES_ZH, tmp_path / "cm.png", font_path=font
        )
        roc = plots.plot_roc_curves(probabilities, references, NAMES_ZH, tmp_path / "roc.png", font_path=font)
    assert _missing_glyph_warnings(records) == []
    ticks = matrix.axes[0].get_xticklabels()
    assert [t.get_text() for t in ticks] == NAMES_ZH
    assert Path(ticks[0].get_fontproperties().get_file()) == font
    assert roc.axes[0].get_legend().get_texts()[0].get_text().startswith(NAMES_ZH[0])
    with pytest.raises(ValueError, match="has no glyph"):
        plots.plot_roc_curves(probabilities, references, NAMES_ZH, tmp_path / "x.png", font_path=default_font)


def test_plot_input_errors(tmp_path):
    with pytest.raises(ValueError, match=r"references\[1\] = 3 is not a class index in \[0, 2\).*2 names"):
        plots.plot_confusion_matrix([0, 3], [0, 1], ["normal", "CSOM"], tmp_path / "cm.png")
    with pytest.raises(ValueError, match="class_names has 1 names"):
        plots.plot_roc_curves([[0.5, 0.5]], [0], ["normal"], tmp_path / "roc.png")
