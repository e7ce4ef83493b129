# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Region-aware finding detection of Bi-CPL v3: anatomical regions in the ear's frame, the Hounsfield units read in
each of them, and one detector per finding *attribute* shared by every region.

A finding is an (entity, attribute) pair of the report parser ("scutum" + "bone_erosion"). The entity says WHERE to
look (its anatomical regions, `ENTITY_REGIONS`), the attribute WHAT to look for. Each region is described by what its
voxels are made of (air, fat / partial volume, fluid / soft tissue, thin bone, bone, dense bone: fractions of HU
bands), the HU of its soft contents, and how the contents lie (posterior minus anterior, i.e. along gravity in a
supine patient: an air-fluid level); the same description of the partner ear's same region, subtracted, is the
bilateral comparison per region. A finding's logit is its attribute's linear detector applied to its regions'
description (plus the ear embedding), so

- a rare finding borrows the positives of its attribute in every other region (erosion of the scutum, of the ossicles,
  of the jugular foramen all train the "bone_erosion" detector), and
- a finding never seen in training ("petrous_apex" + "soft_tissue") is scored by a detector that was: the zero-shot
  route through findings.

Regions are boxes in millimetres from the fine ROI centre (the processor puts it `lateral_offset_mm` lateral of the
otic capsule), axes (superior, posterior, lateral) of the mirrored ear frame, i.e. the ROI's (D, H, W). Their centres
follow the temporal bone's anatomy relative to the otic capsule (the vestibule-origin template of the synthetic
phantom, DESIGN.md section 6). Regions beyond the fine ROI (petrous apex, jugular foramen) are read from the coarse ROI
when the processor makes one (`coarse_roi_size_mm`); without it they are out of view and their findings cannot be
scored (reported, never guessed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_bicpl import FINDING_SCORE_RULES, REGION_DETECTOR_CONTEXTS

# name -> (centre mm, half size mm), (superior, posterior, lateral) from the fine ROI centre.
EAR_REGIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "attic_scutum": ((2.8, 1.5, 3.0), (2.0, 3.0, 2.0)),
    "ossicular_chain": ((1.5, 0.8, 1.0), (2.5, 2.0, 1.5)),
    "aditus_antrum": ((3.2, 8.0, 2.0), (2.0, 4.0, 2.5)),
    "tympanic_cavity": ((-0.5, 2.5, 1.0), (2.5, 4.0, 2.0)),
    "hypotympanum": ((-2.5, 0.0, -0.5), (2.0, 2.5, 2.0)),
    "mastoid_cells": ((-1.0, 14.0, 4.0), (6.0, 4.0, 6.0)),
    "facial_canal": ((-0.4, 1.8, -0.9), (2.5, 4.5, 2.0)),
    "external_canal": ((0.0, 2.0, 9.0), (3.0, 3.0, 4.0)),
    "petrous_apex": ((-1.0, -12.6, -19.0), (4.0, 4.0, 4.0)),
    "jugular_foramen": ((-16.0, 5.7, -4.5), (4.0, 3.0, 3.0)),
}
# The report parser's entity keys -> the regions a finding about that entity is read from.
ENTITY_REGIONS: dict[str, tuple[str, ...]] = {
    "epitympanum": ("attic_scutum",),
    "scutum": ("attic_scutum",),
    "tegmen": ("attic_scutum",),
    "ossicles": ("ossicular_chain", "attic_scutum"),
    "aditus": ("aditus_antrum",),
    "antrum": ("aditus_antrum",),
    "mastoid": ("mastoid_cells",),
    "tympanic_cavity": ("tympanic_cavity", "hypotympanum"),
    "middle_ear": ("tympanic_cavity", "attic_scutum"),
    "tympanic_membrane": ("external_canal",),
    "external_canal": ("external_canal",),
    "facial_canal": ("facial_canal",),
    "petrous_apex": ("petrous_apex",),
    "jugular_foramen": ("jugular_foramen",),
}
# HU band edges: air | fat / partial volume | fluid and soft tissue | thin bone | bone | dense (otic capsule) bone.
HU_BAND_EDGES = (-500.0, -100.0, 150.0, 700.0, 1600.0)
SOFT_CONTENT_HU = (-100.0, 150.0)
NUM_DENSITY_FEATURES = len(HU_BAND_EDGES) + 1 + 3  # band fractions, content mean, content sd, gravity


def _window_to_hu(values: torch.Tensor, window: Mapping) -> torch.Tensor:
    """Undo the processor's `apply_windows` (linear map of [level - width/2, level + width/2] onto [0, 1])."""
    width, level = float(window["width"]), float(window["level"])
    return values * width + (level - width / 2.0)


class RegionDensityFeatures(nn.Module):
    r"""
    What each anatomical region of each ear is made of, read from the processor's HU windows: `(batch, 2, R, F)` with
    `F = NUM_DENSITY_FEATURES`, no parameters and no gradient (a fixed measurement, like the processor's).

    Args:
        geometry (`Mapping`):
            The processor's ROI settings the model was trained with (`BiCPLConfig.region_geometry`): `roi_shape`,
            `roi_size_mm`, `windows` (the first two windows must be a bone window and a soft-tissue window), and
            optionally `coarse_roi_size_mm` / `coarse_roi_offset_mm` (coarse channels appended after the fine ones).
        regions (`Sequence[str]`):
            Names of `EAR_REGIONS` to read; a region outside every ROI the processor makes is left out (`in_view`).
    """

    def __init__(self, geometry: Mapping, regions: Sequence[str]):
        super().__init__()
        shape = [int(n) for n in geometry["roi_shape"]]
        windows = list(geometry["windows"])
        names = [str(w.get("name", "")) for w in windows]
        if len(windows) < 2 or "bone" not in names[0] or "soft" not in names[1]:
            raise ValueError(f"region features read a bone window then a soft-tissue window; the processor has {names}")
        self.bone_window, self.soft_window, self.num_windows = dict(windows[0]), dict(windows[1]), len(windows)
        scales = {"fine": ([float(m) for m in geometry["roi_size_mm"]], [0.0, 0.0, 0.0])}
        if geometry.get("coarse_roi_size_mm"):
            scales["coarse"] = ([float(m) for m in geometry["coarse_roi_size_mm"]],
                                [float(m) for m in geometry.get("coarse_roi_offset_mm") or (0.0, 0.0, 0.0)])
        self.boxes: list[tuple[int, tuple[slice, ...]]] = []  # (channel offset, (D, H, W) slices) per region in view
        self.in_view: list[str] = []
        for name in regions:
            if name not in EAR_REGIONS:
                raise ValueError(f"unknown region {name!r}; expected one of {sorted(EAR_REGIONS)}")
            centre, half = EAR_REGIONS[name]
            for index, (scale, (size_mm, offset_mm)) in enumerate(scales.items()):
                box = _box_slices(centre, half, offset_mm, size_mm, shape)
                if box is not None:
                    self.boxes.append((index * self.num_windows, box))
                    self.in_view.append(name)
                    break

    @torch.no_grad()
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        batch = pixel_values.shape[0]
        features = []
        for channel, box in self.boxes:
            region = pixel_values[(slice(None), slice(None), slice(channel, channel + 2), *box)].float()
            hu = _window_to_hu(region[:, :, 0], self.bone_window).reshape(batch, 2, -1)
            soft = _window_to_hu(region[:, :, 1], self.soft_window).reshape(batch, 2, -1)
            edges = [-float("inf"), *HU_BAND_EDGES, float("inf")]
            bands = [((hu >= lo) & (hu < hi)).float().mean(-1) for lo, hi in zip(edges[:-1], edges[1:])]
            content = ((hu >= SOFT_CONTENT_HU[0]) & (hu < SOFT_CONTENT_HU[1])).float()
            count = content.sum(-1).clamp(min=1.0)
            mean = (soft * content).sum(-1) / count
            sd = ((soft - mean[..., None]).square() * content).sum(-1).div(count).sqrt()
            # Gravity points posterior (+H) in a supine patient: fluid collects in the posterior half of a space.
            grid = content.view(batch, 2, *region.shape[-3:])
            half = grid.shape[-2] // 2
            gravity = grid[..., half:, :].mean((-3, -2, -1)) - grid[..., :half, :].mean((-3, -2, -1))
            features.append(torch.stack([*bands, mean / 100.0, sd / 100.0, gravity], dim=-1))
        if not features:
            return pixel_values.new_zeros(batch, 2, 0, NUM_DENSITY_FEATURES)
        return torch.stack(features, dim=2)


def _box_slices(centre, half, offset_mm, size_mm, shape) -> tuple[slice, ...] | None:
    """The voxel slices of a box in an ROI of `size_mm` / `shape` centred at `offset_mm` from the fine ROI centre, or
    None when the box's centre lies outside that ROI (the box is clipped to it otherwise)."""
    slices = []
    for c, h, o, mm, n in zip(centre, half, offset_mm, size_mm, shape):
        spacing, middle = mm / n, (n - 1) / 2.0
        if abs(c - o) > mm / 2.0:
            return None
        lo = max(0, int(middle + (c - h - o) / spacing + 0.5))
        hi = min(n, int(middle + (c + h - o) / spacing + 0.5) + 1)
        slices.append(slice(lo, max(hi, lo + 1)))
    return tuple(slices)


class BiCPLRegionFindingHead(nn.Module):
    r"""
    Finding logits from regions (Bi-CPL v3): for a finding (entity, attribute), the mean standardised density of the
    entity's regions and the same minus the partner ear's (bilateral per region) go through the attribute's linear
    detector, with its context: the ear embedding and/or every region of the ear (`context`). `(batch, 2,
    num_findings)`.

    Args:
        geometry (`Mapping`): see [`RegionDensityFeatures`].
        attributes (`Sequence[str]`): the attribute keys that have a detector (the training vocabulary's).
        embed_dim (`int`): size of the ear embedding given to `forward`.
        bilateral (`bool`): compare each region with the partner ear's; `False` reads one ear at a time.
        context (`Sequence[str]`): what a detector reads besides the finding's regions (`REGION_DETECTOR_CONTEXTS`):
            `"embedding"`, the ear embedding; `"ear_regions"`, every region's density and difference from the partner
            (per attribute, shared by all its findings: an effusion fills the tympanic cavity, antrum and mastoid
            together, whichever of them a report names).
        context_by_attribute (`Mapping[str, Sequence[str]]`, *optional*): per attribute, its own `context` instead.
        unpaired_attributes (`Sequence[str]`, *optional*): attributes whose detectors do not read the partner ear's
            regions (a finding that is often bilateral, like an effusion, leaves no difference between the ears).
    """

    def __init__(self, geometry: Mapping, attributes: Sequence[str], embed_dim: int, bilateral: bool = True,
                 context: Sequence[str] = ("embedding",), context_by_attribute: Mapping | None = None,
                 unpaired_attributes: Sequence[str] = ()):
        super().__init__()
        self.attributes = list(attributes)
        self.paired_mask = [0.0 if a in set(unpaired_attributes) else 1.0 for a in self.attributes] or [1.0]
        contexts = [tuple((context_by_attribute or {}).get(a, context)) for a in self.attributes]
        unknown = sorted({c for entries in [tuple(context), *contexts] for c in entries} - set(REGION_DETECTOR_CONTEXTS))
        if unknown:
            raise ValueError(f"unknown region detector context {unknown}; expected {REGION_DETECTOR_CONTEXTS}")
        self.bilateral = bilateral
        self.use_embedding = any("embedding" in c for c in contexts)
        regions = sorted({r for names in ENTITY_REGIONS.values() for r in names}, key=list(EAR_REGIONS).index)
        self.density = RegionDensityFeatures(geometry, regions)
        self.regions = list(self.density.in_view)
        width = len(self.regions) * NUM_DENSITY_FEATURES
        # Standardised by the training ears' running statistics: "more soft tissue than this region usually has".
        self.normalize = nn.BatchNorm1d(max(width, 1), affine=False)
        self.detectors = nn.Linear(2 * NUM_DENSITY_FEATURES + (embed_dim if self.use_embedding else 0),
                                   max(len(self.attributes), 1))
        self.ear_context = (nn.Linear(2 * width, max(len(self.attributes), 1), bias=False)
                            if any("ear_regions" in c for c in contexts) and width else None)
        # Which attributes read which context: masks, so a configuration's parameter shapes do not depend on them.
        self.embedding_mask = [float("embedding" in c) for c in contexts] or [0.0]
        self.ear_context_mask = [float("ear_regions" in c) for c in contexts] or [0.0]

    def scorable(self, finding: Sequence[str]) -> bool:
        """Whether `finding` = (entity, attribute) has a detector and at least one region in view."""
        entity, attribute = finding
        return attribute in self.attributes and any(r in self.regions for r in ENTITY_REGIONS.get(entity, ()))

    def encode(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(z, diff)` `(batch, 2, R, F)`: each region's standardised density and its difference from the partner's
        same region (zeros one ear at a time). Computed once per forward: the running statistics update once."""
        density = self.density(pixel_values)  # (B, 2, R, F)
        batch = density.shape[0]
        flat = density.flatten(2).reshape(batch * 2, -1)
        z = self.normalize(flat).view_as(density) if flat.shape[-1] else density
        diff = z - z.flip(1) if self.bilateral else torch.zeros_like(z)  # one ear at a time: no partner
        return z, diff

    def forward(self, pixel_values: torch.Tensor, ear_embeds: torch.Tensor,
                findings: Sequence[Sequence[str]], encoded: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """Logits `(batch, 2, len(findings))`; an unscorable finding's logit is NaN (see `scorable`). `encoded`: this
        batch's `encode(pixel_values)`, when the caller already has it."""
        z, diff = self.encode(pixel_values) if encoded is None else encoded
        batch = z.shape[0]
        ear = [ear_embeds.to(z.dtype)] if self.use_embedding else []
        weight = self.detectors.weight.to(z.dtype)
        # An attribute that does not read the embedding (or the partner) gets 0 from it.
        paired = weight.new_tensor(self.paired_mask)[:, None]
        embedding = weight.new_tensor(self.embedding_mask)[:, None]
        f = NUM_DENSITY_FEATURES
        weight = torch.cat([weight[:, :f], weight[:, f:2 * f] * paired, weight[:, 2 * f:] * embedding], dim=1)
        context = None
        if self.ear_context is not None:  # [z, diff] columns; the partner's half masked per attribute
            half = z.flatten(2).shape[-1]
            context_weight = self.ear_context.weight.to(z.dtype)
            context_weight = torch.cat([context_weight[:, :half], context_weight[:, half:] * paired], dim=1)
            context = F.linear(torch.cat([z.flatten(2), diff.flatten(2)], -1), context_weight)
        logits = []
        for entity, attribute in findings:
            index = [self.regions.index(r) for r in ENTITY_REGIONS.get(entity, ()) if r in self.regions]
            if attribute not in self.attributes or not index:
                logits.append(torch.full((batch, 2), float("nan"), device=z.device, dtype=z.dtype))
                continue
            inputs = torch.cat([z[:, :, index].mean(2), diff[:, :, index].mean(2), *ear], dim=-1)
            a = self.attributes.index(attribute)
            logit = inputs @ weight[a] + self.detectors.bias[a].to(z.dtype)
            logits.append(logit if context is None or not self.ear_context_mask[a] else logit + context[..., a])
        return torch.stack(logits, dim=-1)

    def class_scores(self, pixel_values: torch.Tensor, ear_embeds: torch.Tensor,
                     class_findings: Sequence[Sequence[Sequence[str]] | None], background: Sequence[Sequence[str]],
                     rule: str, encoded: tuple[torch.Tensor, torch.Tensor] | None = None,
                     likelihood: Mapping | None = None) -> torch.Tensor:
        """Scores `(batch, 2, K)` of K classes, each given by its findings (None = not scored from findings: NaN),
        combined by `rule` (`finding_class_scores`; `likelihood`: `BiCPLConfig.finding_likelihood`, for
        `"likelihood_ratio"`); the evidence against a class is read from the scorable findings of `background` (the
        training vocabulary) that it does not state, so a class's score does not depend on which other classes are
        scored with it."""
        universe, present, absent = finding_masks(class_findings, background, self.scorable)
        logits = self(pixel_values, ear_embeds, universe, encoded)
        rates = None if likelihood is None else universe_likelihood(universe, background, likelihood)
        scores = finding_class_scores(logits, present.to(logits), rule, absent=absent.to(logits), likelihood=rates)
        unscored = torch.tensor([not row.any() for row in present], device=scores.device)
        return scores.masked_fill(unscored, float("nan"))


def finding_masks(class_findings: Sequence, background: Sequence, scorable) -> tuple[list, torch.Tensor, torch.Tensor]:
    """`(universe, present, absent)`: the findings to detect (the scorable ones of `background` and of every class)
    and, per class, `(K, V)` 0/1 masks of what it states and of the background findings it does not state."""
    stated = [set() if fs is None else {tuple(f) for f in fs if scorable(f)} for fs in class_findings]
    vocabulary = {tuple(f) for f in background if scorable(f)}
    universe = sorted(vocabulary | set().union(*stated))
    present = torch.tensor([[f in s for f in universe] for s in stated], dtype=torch.float64).view(len(stated), -1)
    absent = torch.tensor([[f in vocabulary and f not in s for f in universe] for s in stated],
                          dtype=torch.float64).view(len(stated), -1)
    return universe, present, absent


def finding_scored_classes(config) -> list:
    """Per class of `config.class_codes`: the findings it is scored from (a class without a trained prototype, i.e.
    frozen, whose prompts state findings: `config.class_findings`), or None (scored by its prototype)."""
    own, frozen = config.class_findings or {}, set(config.frozen_prototype_codes)
    return [own.get(str(code)) if code in frozen else None for code in config.class_codes]


def scored_from_findings(head: BiCPLRegionFindingHead, config, pixel_values: torch.Tensor, ear_embeds: torch.Tensor,
                         logits: torch.Tensor, *, own_classes: bool, class_findings: Sequence | None,
                         encoded: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """`logits` `(batch, 2, K)` with the classes that have no trained prototype scored from their findings (Bi-CPL v3,
    `config.zero_shot_scoring="findings"`): the model's own (`finding_scored_classes`, plus their logit offsets) or,
    for classes given as prototypes, those that come with findings (`class_findings`, one entry or None per class).
    A class none of whose findings can be scored keeps its prototype logit."""
    if own_classes:
        class_findings = finding_scored_classes(config)
        offsets = config.class_logit_offsets or [0.0] * len(class_findings)
    elif class_findings is None:
        return logits
    else:
        offsets = [0.0] * len(class_findings)
    if len(class_findings) != logits.shape[-1]:
        raise ValueError(f"class_findings needs one entry (findings or None) per class: {logits.shape[-1]}, got "
                         f"{len(class_findings)}")
    if not any(class_findings):
        return logits
    scores = head.class_scores(pixel_values, ear_embeds, class_findings, config.region_findings or [],
                               config.finding_score_rule, encoded, likelihood=config.finding_likelihood)
    scores = scores + scores.new_tensor(offsets)
    return torch.where(torch.isnan(scores), logits, scores.to(logits.dtype))


def universe_likelihood(universe: Sequence, region_findings: Sequence, likelihood: Mapping) -> dict:
    """`likelihood` (`BiCPLConfig.finding_likelihood`) for the findings of `universe`: a `(V,)` prevalence tensor (a
    finding outside `region_findings` gets `unseen_prevalence`) and the two class rates."""
    known = {tuple(f): p for f, p in zip(region_findings, likelihood["prevalence"])}
    prevalence = torch.tensor([known.get(tuple(f), likelihood["unseen_prevalence"]) for f in universe],
                              dtype=torch.float64)
    return {"prevalence": prevalence, "stated_rate": float(likelihood["stated_rate"]),
            "unstated_rate": float(likelihood["unstated_rate"])}


def likelihood_ratio_terms(logits: torch.Tensor, matrix: torch.Tensor, likelihood: Mapping) -> torch.Tensor:
    """`(..., K, V)`: each finding's term of the `"likelihood_ratio"` rule (`finding_class_scores`) for each class,
    log(q e^l + 1 - q) - log(p e^l + 1 - p), before the class's stated and absent findings are summed."""
    matrix = matrix.to(logits.dtype)
    prevalence = likelihood["prevalence"].to(logits)
    rate = matrix * likelihood["stated_rate"] + (1.0 - matrix) * likelihood["unstated_rate"]  # (K, V)
    given_class = torch.logaddexp(logits[..., None, :] + rate.log(), torch.log1p(-rate))
    given_training = torch.logaddexp(logits + prevalence.log(), torch.log1p(-prevalence))[..., None, :]
    return given_class - given_training


def finding_class_scores(logits: torch.Tensor, matrix: torch.Tensor, rule: str, absent: torch.Tensor | None = None,
                         likelihood: Mapping | None = None) -> torch.Tensor:
    """Class scores `(..., K)` from finding logits `(..., V)` and a `(K, V)` 0/1 class-finding matrix: `"present"` =
    the mean log-odds of the class's findings; `"present_minus_absent"` = that minus the mean log-odds of the findings
    in `absent` (default: every finding it does not state), the evidence against it; `"dap"` = direct attribute
    prediction, sum log p over its findings + sum log(1 - p) over `absent`; `"likelihood_ratio"` = naive Bayes over
    the class's findings and `absent`, each finding weighed by how specific it is: a balanced detector's logit is the
    image's log-likelihood ratio for its finding, so the class against the training ears scores

        sum_f log(q_f e^l_f + 1 - q_f) - log(p_f e^l_f + 1 - p_f),

    with p_f the finding's prevalence and q_f the class's rate of it (`likelihood`: `universe_likelihood`; q_f is
    `stated_rate` for a finding the class states, `unstated_rate` otherwise). A common finding weighs little, a rare
    one the class states much; a common finding it lacks counts against it where the image shows it."""
    if rule not in FINDING_SCORE_RULES:
        raise ValueError(f"unknown finding score rule {rule!r}; expected one of {FINDING_SCORE_RULES}")
    matrix = matrix.to(logits.dtype)
    absent = (1.0 - matrix) if absent is None else absent.to(logits.dtype)
    if rule == "likelihood_ratio":
        if likelihood is None:
            raise ValueError("the likelihood_ratio rule needs the findings' rates (BiCPLConfig.finding_likelihood, "
                             "estimated on the training ears by training.region_findings.estimate_finding_likelihood)")
        return (likelihood_ratio_terms(logits, matrix, likelihood) * (matrix + absent).clamp(max=1.0)).sum(-1)
    present = matrix / matrix.sum(1, keepdim=True).clamp(min=1.0)
    if rule == "present":
        return logits @ present.t()
    if rule == "present_minus_absent":
        return logits @ present.t() - logits @ (absent / absent.sum(1, keepdim=True).clamp(min=1.0)).t()
    return F.logsigmoid(logits) @ matrix.t() + F.logsigmoid(-logits) @ absent.t()


__all__ = ["EAR_REGIONS", "ENTITY_REGIONS", "BiCPLRegionFindingHead", "RegionDensityFeatures", "finding_class_scores",
           "finding_masks", "finding_scored_classes", "likelihood_ratio_terms", "scored_from_findings",
           "universe_likelihood"]
