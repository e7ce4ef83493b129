"""Zero-shot metrics of a held-out class, checked against scikit-learn, a brute-force sweep and hand-computed values."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from bicpl_hf.metrics.zero_shot_metrics import (
    area_under_seen_unseen_curve,
    binary_auc,
    generalized_zero_shot_accuracy,
    seen_unseen_curve,
    zero_shot_metrics,
)

CODES = [1, 2, 3, 4, 5, 6]
UNSEEN = [2, 4, 6]


@pytest.fixture
def ears():
    rng = np.random.default_rng(3)
    labels = rng.choice(CODES, size=300, p=[0.3, 0.2, 0.15, 0.05, 0.25, 0.05])
    logits = rng.normal(size=(300, 6))
    logits[np.arange(300), [CODES.index(c) for c in labels]] += 1.2  # informative, not perfect
    logits = np.round(logits, 1)  # ties on purpose
    cosine = np.tanh(logits / 4 + rng.normal(scale=0.2, size=logits.shape))
    return logits, labels, cosine


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_binary_auc_matches_sklearn_with_ties(ears):
    logits, labels, _ = ears
    for code in CODES:
        assert binary_auc(labels == code, logits[:, CODES.index(code)]) == pytest.approx(
            roc_auc_score(labels == code, logits[:, CODES.index(code)]))
    assert binary_auc(np.array([True, True]), np.array([0.1, 0.2])) is None


def test_held_out_aucs_match_sklearn(ears):
    logits, labels, cosine = ears
    m = zero_shot_metrics(logits, labels, CODES, held_out=2, unseen_codes=UNSEEN, cosine=cosine)
    prob = _softmax(logits)[:, 1]
    assert m["auc_probability"] == pytest.approx(roc_auc_score(labels == 2, prob))
    assert m["auc_cosine"] == pytest.approx(roc_auc_score(labels == 2, cosine[:, 1]))
    diseased = labels != 5
    assert m["auc_vs_diseased_probability"] == pytest.approx(roc_auc_score(labels[diseased] == 2, prob[diseased]))
    assert m["auc_vs_diseased_cosine"] == pytest.approx(roc_auc_score(labels[diseased] == 2, cosine[diseased, 1]))
    csom = np.isin(labels, [1, 2])
    assert m["auc_vs/1_cosine"] == pytest.approx(roc_auc_score(labels[csom] == 2, cosine[csom, 1]))
    assert "auc_vs/5_probability" not in m and "auc_vs/2_probability" not in m
    assert m["n_held_out_ears"] == int((labels == 2).sum()) and m["n_ears"] == 300
    # Without the cosine, only the probability AUCs.
    assert not any(k.endswith("_cosine") for k in zero_shot_metrics(logits, labels, CODES, held_out=2,
                                                                      unseen_codes=UNSEEN))


def test_gzsl_accuracy_is_balanced_accuracy_per_group(ears):
    logits, labels, _ = ears
    predicted = np.asarray(CODES)[logits.argmax(1)]
    m = generalized_zero_shot_accuracy(logits, labels, CODES, UNSEEN)
    for name, group in (("seen", [1, 3, 5]), ("unseen", UNSEEN)):
        mask = np.isin(labels, group)
        # Balanced accuracy restricted to the group's ears = mean recall of its classes (over all K predictions).
        recalls = [np.mean(predicted[labels == c] == c) for c in group]
        assert m[f"gzsl_acc_{name}"] == pytest.approx(np.mean(recalls))
        assert m[f"gzsl_acc_{name}"] <= 1.0 and mask.any()
    s, u = m["gzsl_acc_seen"], m["gzsl_acc_unseen"]
    assert m["gzsl_harmonic"] == pytest.approx(2 * s * u / (s + u))
    # With every class "seen", the seen accuracy is sklearn's balanced accuracy.
    everything = generalized_zero_shot_accuracy(logits, labels, CODES, [])
    assert everything["gzsl_acc_seen"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert "gzsl_harmonic" not in everything


def _brute_force_ausuc(logits, labels, unseen):
    """Dense sweep of the unseen offset, argmax over all classes at each step, trapezoid over the points."""
    unseen_mask = np.isin(CODES, unseen)
    seen_codes = [c for c in CODES if c not in unseen]
    points = []
    for gamma in np.concatenate([[-1e9], np.linspace(-20, 20, 8001), [1e9]]):
        shifted = logits + gamma * unseen_mask
        predicted = np.asarray(CODES)[shifted.argmax(1)]
        acc = [np.mean([np.mean(predicted[labels == c] == c) for c in group if (labels == c).any()])
               for group in (seen_codes, unseen)]
        points.append(acc)
    points = np.array(points)
    s, u = points[:, 0], points[:, 1]
    return float(np.sum((u[1:] - u[:-1]) * (s[1:] + s[:-1]) / 2))


def test_ausuc_matches_a_brute_force_sweep(ears):
    logits, labels, _ = ears
    logits = logits + np.random.default_rng(0).normal(scale=1e-3, size=logits.shape)  # no exact ties at a step
    exact = area_under_seen_unseen_curve(logits, labels, CODES, UNSEEN)
    assert exact == pytest.approx(_brute_force_ausuc(logits, labels, UNSEEN), abs=2e-3)
    # A common offset on the unseen classes (calibrated stacking) does not move the curve.
    shifted = logits + 3.0 * np.isin(CODES, UNSEEN)
    assert area_under_seen_unseen_curve(shifted, labels, CODES, UNSEEN) == pytest.approx(exact)


def test_hand_computed_curve_and_metrics():
    logits = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 1.0, 3.0], [0.5, 0.0, 2.0]])
    labels = np.array([1, 2, 5, 2])
    gammas, acc_seen, acc_unseen = seen_unseen_curve(logits, labels, [1, 2, 5], [2])
    # Switch offsets (best seen - best unseen): 3, -1, 2, 2.
    assert gammas.tolist() == [-np.inf, 0.5, 2.5, np.inf]
    assert acc_seen.tolist() == [1.0, 1.0, 0.5, 0.0]
    assert acc_unseen.tolist() == [0.0, 0.5, 1.0, 1.0]
    m = zero_shot_metrics(logits, labels, [1, 2, 5], held_out=2, unseen_codes=[2])
    assert m["ausuc"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)
    assert m["gzsl_acc_seen"] == 1.0 and m["gzsl_acc_unseen"] == 0.5
    assert m["gzsl_harmonic"] == pytest.approx(2 / 3)
    assert m["auc_vs_diseased_probability"] == 1.0  # only CSOM (ear 0) is diseased and not held out


def test_normal_variant_rate():
    # Four normal ears, two flagged; ear 1 (flagged) is called CSOM, ear 3 (not flagged) too.
    logits = np.array([[0.0, 0.0, 1.0], [2.0, 0.0, 1.0], [0.0, 0.0, 1.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    labels = np.array([5, 5, 5, 5, 2])
    flag = np.array([True, True, False, False, True])
    m = zero_shot_metrics(logits, labels, [1, 2, 5], held_out=2, unseen_codes=[2], normal_variant=flag)
    assert m["normal_variant_called_diseased"] == 0.5 and m["n_normal_variant_ears"] == 2
    assert m["normal_called_diseased"] == 0.5 and m["n_normal_ears"] == 2
    none_flagged = zero_shot_metrics(logits, labels, [1, 2, 5], held_out=2, unseen_codes=[2],
                                     normal_variant=np.zeros(5, bool))
    assert "normal_variant_called_diseased" not in none_flagged and none_flagged["n_normal_variant_ears"] == 0


def test_any_code_can_be_held_out_and_bad_input_is_named(ears):
    logits, labels, cosine = ears
    m = zero_shot_metrics(logits, labels, CODES, held_out=3, unseen_codes=[3, 4], cosine=cosine)
    assert m["auc_cosine"] == pytest.approx(roc_auc_score(labels == 3, cosine[:, 2]))
    with pytest.raises(ValueError, match="held_out 3 must be one of"):
        zero_shot_metrics(logits, labels, CODES, held_out=3, unseen_codes=[2])
    with pytest.raises(ValueError, match="cosine must have the shape"):
        zero_shot_metrics(logits, labels, CODES, held_out=2, unseen_codes=UNSEEN, cosine=cosine[:, :3])
