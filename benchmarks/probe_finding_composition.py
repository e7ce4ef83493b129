"""Does the held-out class compose from findings? Train one variant with the finding-level alignment in Setting B on the
cached benchmark build (development class held out), then measure on the validation split:

- per finding of the vocabulary: training ears that show it, and the validation AUC of the ear's finding logit for it
  (does the image encoder see the finding at all?);
- the held-out (development) class's AUC from three zero-shot scores: the cosine to its finding-style text prototype,
  the cosine to the mean of its findings' embeddings, and the mean log-probability of its findings (product of
  experts over the findings its knowledge-base prompts name that are in the vocabulary).

Usage:
    python benchmarks/probe_finding_composition.py --build CACHE/data-KEY --variant bicpl_v2 --out probe.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def main() -> None:
    from _probe_inputs import PROBE_SPLIT, probe_arguments, setting_b_inputs

    from bicpl_hf.data.collator import BiCPLDataCollator
    from bicpl_hf.knowledge.finding_vocabulary import composed_prompts, finding_labels, finding_phrase
    from bicpl_hf.metrics.zero_shot_metrics import binary_auc
    from bicpl_hf.training.experiments import (
        VARIANTS,
        ExperimentBudget,
        make_variant_model,
        train_variant,
        variant_collator_options,
    )

    parser = probe_arguments(__doc__.split("\n\n")[0], default_variant="bicpl_v2")
    parser.add_argument("--text-model", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    _, view, processor, config = setting_b_inputs(args.build, args.held_out, args.work)
    variant = VARIANTS[args.variant]
    budget = ExperimentBudget(text_model_path=args.text_model)
    model = make_variant_model(variant, config, processor.tokenizer, args.seed, text_model_path=args.text_model)
    model.to(memory_format=torch.channels_last_3d)
    train_variant(variant, model, processor, view["train"], Path(args.work) / args.variant, budget, args.seed)
    model.to(memory_format=torch.contiguous_format).eval()

    vocabulary = variant_collator_options(variant, view["train"])["finding_vocabulary"]
    phrases = [finding_phrase(f) for f in vocabulary]
    train_labels = np.stack([finding_labels(t, vocabulary) for t in view["train"]["findings_triples"]])
    collator = BiCPLDataCollator(processor, include_labels=False, text_mode="findings", finding_vocabulary=vocabulary)
    test = view[PROBE_SPLIT]  # validation: a probe never reads the test split
    logits, embeds = [], []
    with torch.no_grad():
        for start in range(0, len(test), 8):
            batch = collator([test[i] for i in range(start, min(start + 8, len(test)))])
            batch.pop("finding_labels"), batch.pop("return_loss")
            out = model(**batch)
            logits.append(out.finding_logits.flatten(0, 1))
            embeds.append(out.image_embeds.flatten(0, 1))
    logits, embeds = torch.cat(logits).numpy(), torch.cat(embeds)
    test_labels = np.concatenate([finding_labels(t, vocabulary) for t in test["findings_triples"]])
    codes = np.stack([test["left_code"], test["right_code"]], 1).reshape(-1)
    known = codes != -100
    report = {"variant": args.variant, "seed": args.seed, "held_out": args.held_out, "findings": []}
    for j, phrase in enumerate(phrases):
        report["findings"].append({"finding": phrase, "train_ears": int(train_labels[..., j].sum()),
                                   "validation_ears": int(test_labels[:, j].sum()),
                                   "validation_auc": binary_auc(test_labels[:, j] > 0, logits[:, j])})
    tokenizer = processor.tokenizer
    for code in (args.held_out,):  # code 4 is a test class: never probed
        prompts = model.config.class_prompts[str(code)]
        text_proto = model.encode_class_prompts(tokenizer, {code: prompts})[0]
        composed = composed_prompts(prompts)
        composed_proto = model.encode_class_prompts(tokenizer, {code: composed})[0]
        in_vocab = [phrases.index(p) for p in composed if p in phrases]
        positive = codes[known] == code
        scores = {
            "cosine_text_prototype": (embeds @ text_proto).numpy(),
            "cosine_composed_prototype": (embeds @ composed_proto).numpy(),
        }
        if in_vocab:
            scores["mean_log_prob_of_findings"] = F.logsigmoid(torch.from_numpy(logits[:, in_vocab])).mean(-1).numpy()
        diseased = (codes[known] != model.config.normal_code)
        report[f"code_{code}"] = {
            "prompts": prompts, "composed_findings": composed,
            "findings_in_vocabulary": [phrases[i] for i in in_vocab],
            **{f"auc/{k}": binary_auc(positive, v[known]) for k, v in scores.items()},
            **{f"auc_vs_diseased/{k}": binary_auc(positive[diseased], v[known][diseased]) for k, v in scores.items()},
            **{f"auc_vs_csom/{k}": binary_auc(positive[(codes[known] == 1) | positive],
                                              v[known][(codes[known] == 1) | positive]) for k, v in scores.items()},
        }
    report["seconds"] = round(time.time() - started, 1)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
