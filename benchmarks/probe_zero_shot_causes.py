"""Measure the suspected causes of Bi-CPL's failed zero-shot (issue 14) on the cached benchmark build, before fixing.

One Setting B training of a variant (code 2 held out, the benchmark's split and budget), with probes between stages:

- text coverage: the share of the held-out prompt's characters that occur in the Setting B training reports;
- prompt geometry: the cosine matrix of the class prompts' embeddings (init, after alignment, after prototypes);
- anchor staleness: the cosine between the held-out class's text anchor used while training the prototypes and the
  one it is scored against afterwards;
- the prototype stage's push: mean cosine of the training CSOM ears to the held-out class's anchor before/after it;
- A3B: the gate's mean on both ears of normal-normal exams (0 would mean "no asymmetry"), and the share of the
  fused feature's norm that the bilateral half carries.

Usage:
    python benchmarks/probe_zero_shot_causes.py --build CACHE/data-KEY --variant bicpl --out probe.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def prompt_matrix(model, tokenizer) -> list[list[float]]:
    anchors = model.encode_class_prompts(tokenizer, model.prototype_head.ordered_class_prompts())
    return (anchors @ anchors.t()).round(decimals=3).tolist()


@torch.no_grad()
def ear_embeddings(model, dataset, batch_size: int = 8):
    model.eval()
    embeds, codes, gates, halves = [], [], [], []
    for start in range(0, len(dataset), batch_size):
        rows = dataset[start : start + batch_size]
        pixels = torch.as_tensor(np.asarray(rows["pixel_values"]), dtype=torch.float32)
        pooled, _, maps = model.vision_model(pixels)
        if model.config.bilateral:
            difference = pooled - pooled.flip(1)
            halves.append((difference.norm(dim=-1) / torch.cat([pooled, difference], -1).norm(dim=-1)).flatten())
        gates.append(torch.stack([m.mean(dim=(-3, -2, -1)) for m in maps], -1) if maps else torch.zeros(len(pixels), 2, 0))
        embeds.append(F.normalize(model.get_image_features(pixels).pooler_output, dim=-1))
        codes.append(torch.as_tensor(np.stack([rows["left_code"], rows["right_code"]], 1)))
    return (torch.cat(embeds), torch.cat(codes), torch.cat(gates),
            torch.cat(halves) if halves else torch.zeros(0))


def main() -> None:
    from _probe_inputs import probe_arguments, setting_b_inputs

    from bicpl_hf.training.experiments import VARIANTS, ExperimentBudget, _arguments, make_variant_model
    from bicpl_hf.training.recipe import build_trainer

    args = probe_arguments(__doc__.split("\n\n")[0], default_variant="bicpl").parse_args()
    torch.set_num_threads(1)

    started = time.time()
    _, view, processor, config = setting_b_inputs(args.build, args.held_out, args.work)
    tokenizer, variant, budget = processor.tokenizer, VARIANTS[args.variant], ExperimentBudget()
    model = make_variant_model(variant, config, tokenizer, args.seed)
    model.to(memory_format=torch.channels_last_3d)

    report = {"variant": args.variant, "held_out": args.held_out, "seed": args.seed}
    train_chars = set("".join(view["train"]["report"]))
    held_out_prompts = model.config.class_prompts[str(args.held_out)]
    prompt_chars = set("".join(held_out_prompts)) - set("，。：、；")
    report["held_out_prompt_chars_in_train_text"] = round(len(prompt_chars & train_chars) / len(prompt_chars), 3)
    report["held_out_prompt_chars_missing"] = "".join(sorted(prompt_chars - train_chars))
    side_texts = list(view["train"]["left_text"]) + list(view["train"]["right_text"])
    report["side_texts_with_negation"] = round(float(np.mean(["未见" in t or "无" in t for t in side_texts])), 3)
    report["prompt_cosine_init"] = prompt_matrix(model, tokenizer)
    index = model.config.class_codes.index(args.held_out)

    out = Path(args.work) / args.variant
    if variant.contrastive_stage:
        build_trainer(model, processor, _arguments(out / "c", budget.contrastive_epochs, budget, args.seed),
                      view["train"], stage="contrastive").train()
        model.initialize_prototypes(tokenizer)
    report["prompt_cosine_after_alignment"] = prompt_matrix(model, tokenizer)
    anchor_before = model.prototype_head.text_prototypes[index].clone()
    embeds, codes, _, _ = ear_embeddings(model, view["train"])
    csom = codes == 1
    report["csom_train_cos_to_held_out_anchor_before_stage2"] = round(float((embeds @ anchor_before)[csom].mean()), 3)

    if variant.prototype_stage:
        build_trainer(model, processor, _arguments(out / "p", budget.prototype_epochs, budget, args.seed),
                      view["train"], stage="prototype").train()
    embeds, codes, gates, halves = ear_embeddings(model, view["train"])
    report["csom_train_cos_to_held_out_anchor_after_stage2"] = round(float((embeds @ anchor_before)[codes == 1].mean()), 3)
    anchor_after = model.encode_class_prompts(tokenizer, model.prototype_head.ordered_class_prompts())[index]
    report["held_out_anchor_cos_trained_vs_scored"] = round(float(anchor_before @ anchor_after), 3)
    report["prompt_cosine_final"] = prompt_matrix(model, tokenizer)
    normal_normal = (codes == 5).all(-1)
    if gates.shape[-1]:
        report["a3b_gate_mean_normal_normal_exams"] = [round(float(g), 3) for g in gates[normal_normal].mean((0, 1))]
        report["a3b_gate_mean_one_diseased_exams"] = [
            round(float(g), 3) for g in gates[((codes == 5).sum(-1) == 1)].mean((0, 1))]
    if len(halves):
        report["bilateral_half_norm_share"] = round(float(halves.mean()), 3)
    report["seconds"] = round(time.time() - started, 1)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
