"""Chinese radiology reports of the synthetic benchmark, written from per-ear attributes.

A report has the two columns of the hospital export: 影像所见 (findings) and 检查结论 (impression). The
findings follow the radiologists' order 外耳道 → 鼓膜/鼓室 → 听骨链 → 乳突 → 内耳及周围 and describe each
ear from its `EarAttributes` (never from the class code); the impression names the disease of each
ear from its code, sometimes hedged (考虑/可能/不除外/待排). A region is described in one 双侧 sentence
only when both ears' descriptions of it agree; otherwise each side gets its own sentence that names
its side first, so the text about one ear never carries the other ear's lesions.

Wording: each exam's report is written in one radiologist's style (`report_styles.py`: own phrase pools,
side words, hedges, side-first layout, traditional characters), picked per exam from the report rng; the
facts written (which finding, where, how large, the hedge rates) do not depend on the style.

Report noise (`noise_rate`, per sentence): a dropped findings sentence, an extra space, or a synonym
swap between words of the same meaning. Noise never touches a side word or the impression's codes.

Example:
    >>> import numpy as np
    >>> from bicpl_hf.synthetic.attributes import EarAttributes
    >>> findings, impression = write_synthetic_report(
    ...     EarAttributes(code=5), EarAttributes(code=5), np.random.default_rng(0), noise_rate=0.0)
    >>> findings.startswith("双"), "未见" in impression
    (True, True)
"""

from __future__ import annotations

import numpy as np

from .attributes import CLASS_NAMES_ZH, EarAttributes
from .report_styles import REPORT_STYLES, ReportStyle, pick_report_style, to_traditional

# The standard style's words; the other styles' pools live in `report_styles.py`.
SIDE_WORDS = {"left": REPORT_STYLES["standard"].left, "right": REPORT_STYLES["standard"].right}
# Every style's bilateral words (a test reads findings sentences that open with one of them).
BILATERAL_WORDS = tuple(dict.fromkeys(w for s in REPORT_STYLES.values() for w in s.bilateral))

# Impression disease names per code (standard style); every style's names map back in the parser's lexicon.
DISEASE_NAMES = {code: REPORT_STYLES["standard"].phrases[code] for code in (1, 2, 3, 4)}
TUMOUR_NAMES = {site: REPORT_STYLES["standard"].phrases[site] for site in ("facial_canal", "jugular_foramen", "tympanic")}
# Where the cyst of code 4 is; without a recorded site the text names the temporal bone only.
CYST_SITE_WORDS = {"petrous_apex": "岩尖区", "antrum": "鼓窦区", None: "颞骨内"}
ATTIC_WIDENING_EXTENT = 0.3  # an attic mass this large (severity x extent) widens the attic in the text
NORMAL_IMPRESSIONS = REPORT_STYLES["standard"].phrases["normal_impression"]

# Noise: swaps between words of the same meaning (never a side word, never a disease name).
SYNONYM_SWAPS = (
    ("软组织密度影", "软组织影"), ("骨质吸收", "骨质破坏"), ("增宽", "扩大"),
    ("黏膜增厚", "粘膜增厚"), ("气液平面", "液平"), ("听骨链完整", "听小骨形态完整"), ("清晰", "清楚"),
)
_SIDE_CHARACTERS = set("左右双两侧耳")
# The hedge rate per code (rarer diseases more often); the same in every style.
HEDGE_RATES = {1: 0.15, 2: 0.3, 3: 0.15, 4: 0.5, 6: 0.4}


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


# --------------------------------------------------------------------------------------------------
# Per-ear descriptors: what each region looks like. Two ears share a 双侧 sentence iff equal.
def _tympanic_descriptor(ear: EarAttributes) -> tuple:
    facts: list = []
    if ear.expansile_cyst:
        facts.append(("expansile_cyst", ear.bone_thinning, _cyst_site(ear)))
    if ear.epitympanic_mass:  # a small (non-expanding) attic mass does not widen the attic
        facts.append(("epitympanic_mass", ear.scutum_erosion, ear.aditus_widened,
                      ear.extent("attic_soft_tissue") >= ATTIC_WIDENING_EXTENT))
    else:  # scutum / aditus changes without an attic mass (chronic otitis, granuloma, tumours)
        if ear.scutum_erosion:
            facts.append(("scutum_erosion",))
        if ear.aditus_widened:
            facts.append(("aditus_widening",))
    if ear.tympanic_mass or ear.tumour_site == "tympanic":
        facts.append(("tympanic_tumour",))
    if ear.effusion:
        facts.append(("effusion", ear.air_fluid_level, ear.bubbles))
    elif ear.opacification >= 0.1:  # the phantom fills this fraction of the cavity for every class
        facts.append(("soft_tissue", 0 if ear.opacification < 0.35 else 1 if ear.opacification < 0.7 else 2))
    if ear.mucosal_thickening:
        facts.append(("mucosa",))
    return tuple(facts)


def _mastoid_descriptor(ear: EarAttributes) -> tuple[str, bool, bool]:
    return (ear.mastoid, ear.mastoid_opacified, ear.mastoid_opacified and ear.effusion)


def _cyst_site(ear: EarAttributes) -> str | None:
    """Where a cholesterol granuloma sits, when the phantom recorded it in `extras["cyst_site"]`."""
    site = ear.extras.get("cyst_site")
    if site is not None and site not in CYST_SITE_WORDS:
        known = sorted(k for k in CYST_SITE_WORDS if k)
        raise ValueError(f"write_synthetic_report: extras['cyst_site'] is {site!r}; expected one of {known} "
                         "or no entry")
    return site


def _surroundings_descriptor(ear: EarAttributes) -> tuple:
    return (ear.facial_canal_widened, ear.jugular_foramen_erosion)


# --------------------------------------------------------------------------------------------------
# Region renderers: each returns the clauses of one ear's (or both ears') description, no side word.
def _tympanic_clauses(ear: EarAttributes, style: ReportStyle, rng: np.random.Generator) -> list[str]:
    say = style.pick
    clauses: list[str] = []
    for fact in _tympanic_descriptor(ear):
        kind = fact[0]
        if kind == "expansile_cyst":  # cholesterol granuloma, the proposal's vocabulary
            clauses += [CYST_SITE_WORDS[fact[2]] + say("cyst_body", rng), say("cyst_expansile", rng),
                        say("cyst_margin", rng)]
            if fact[1]:
                clauses += [say("cyst_thin", rng), say("cyst_no_erosion", rng)]
        elif kind == "epitympanic_mass":
            clauses.append(say("attic_mass", rng))
            if fact[3]:
                clauses.append(say("attic_widened", rng))
            if fact[1]:
                clauses.append(say("scutum", rng))
            if fact[2]:
                clauses.append(say("aditus", rng))
        elif kind == "scutum_erosion":
            clauses.append(say("scutum", rng))
        elif kind == "aditus_widening":
            clauses.append(say("aditus", rng))
        elif kind == "tympanic_tumour":
            clauses.append(say("tympanic_tumour", rng))
        elif kind == "effusion":
            clauses.append(say("effusion", rng))
            if fact[1]:
                clauses.append(say("air_fluid", rng))
            if fact[2]:
                clauses.append(say("bubbles", rng))
        elif kind == "soft_tissue":
            clauses.append(say(f"soft_tissue_{fact[1]}", rng))
        elif kind == "mucosa":
            clauses.append(say("mucosa", rng))
    return clauses or [say("tympanic_clear", rng)]


def _ossicle_clauses(state: str, style: ReportStyle, rng: np.random.Generator) -> list[str]:
    slot = {"intact": "ossicles_intact", "partial_erosion": "ossicles_partial"}.get(state, "ossicles_severe")
    return [style.pick(slot, rng)]


def _mastoid_clauses(mastoid: str, opacified: bool, fluid: bool, style: ReportStyle,
                     rng: np.random.Generator) -> list[str]:
    clauses = [style.pick(f"mastoid_{mastoid}", rng)]
    if opacified:
        content = style.pick("mastoid_fluid" if fluid else "mastoid_tissue", rng)
        clauses.append(_pick(rng, (content, *style.phrases["mastoid_opacified"])))
    return clauses


def _surroundings_clauses(ear: EarAttributes, style: ReportStyle, rng: np.random.Generator) -> list[str]:
    clauses: list[str] = []
    if ear.facial_canal_widened:
        clauses += [style.pick("facial_widened", rng), style.pick("facial_tissue", rng)]
    if ear.jugular_foramen_erosion:
        clauses += [style.pick(k, rng) for k in ("jugular_widened", "jugular_erosion", "jugular_tissue")]
    return clauses


# --------------------------------------------------------------------------------------------------
def _sided(side: str, clauses: list[str], style: ReportStyle, rng: np.random.Generator) -> str:
    """One sentence about one ear: the side word opens it, the later clauses inherit the side."""
    return _pick(rng, getattr(style, side)) + "，".join(clauses)


def _both(clauses: list[str], style: ReportStyle, rng: np.random.Generator) -> str:
    return _pick(rng, style.bilateral) + "，".join(clauses)


def _region(left_key, right_key, render_left, render_right, style: ReportStyle, rng: np.random.Generator) -> list[str]:
    """A 双侧 sentence when both ears' descriptors agree, else one sentence per side."""
    if left_key == right_key:
        return [_both(render_left(), style, rng)]
    return [_sided("left", render_left(), style, rng), _sided("right", render_right(), style, rng)]


def _middle_ear(ear: EarAttributes, style: ReportStyle, rng: np.random.Generator) -> list[str]:
    """Tympanum, ossicles and mastoid of one ear, in the radiologists' order."""
    return (_tympanic_clauses(ear, style, rng) + _ossicle_clauses(ear.ossicles, style, rng)
            + _mastoid_clauses(*_mastoid_descriptor(ear), style, rng))


def _findings_sentences(left: EarAttributes, right: EarAttributes, style: ReportStyle,
                        rng: np.random.Generator) -> list[str]:
    ears = {"left": left, "right": right}
    sentences = [_both([style.pick("ext_canal", rng)], style, rng)]

    tympanic_equal = _tympanic_descriptor(left) == _tympanic_descriptor(right)
    ossicles_equal = left.ossicles == right.ossicles
    mastoid_equal = _mastoid_descriptor(left) == _mastoid_descriptor(right)
    if style.layout == "side" and not (tympanic_equal and ossicles_equal and mastoid_equal):
        # side-first: 左鼓室…，听骨…，乳突…。右…
        sentences += [_sided(side, _middle_ear(ear, style, rng), style, rng) for side, ear in ears.items()]
    else:
        if not tympanic_equal and not ossicles_equal:  # 左侧鼓室…，听小骨…。右侧鼓室…，听骨链…
            for side, ear in ears.items():
                clauses = _tympanic_clauses(ear, style, rng) + _ossicle_clauses(ear.ossicles, style, rng)
                sentences.append(_sided(side, clauses, style, rng))
        elif tympanic_equal and ossicles_equal:  # 双侧鼓室清晰，听骨链完整
            clauses = _tympanic_clauses(left, style, rng) + _ossicle_clauses(left.ossicles, style, rng)
            sentences.append(_both(clauses, style, rng))
        else:
            sentences += _region(_tympanic_descriptor(left), _tympanic_descriptor(right),
                                 lambda: _tympanic_clauses(left, style, rng),
                                 lambda: _tympanic_clauses(right, style, rng), style, rng)
            sentences += _region(left.ossicles, right.ossicles, lambda: _ossicle_clauses(left.ossicles, style, rng),
                                 lambda: _ossicle_clauses(right.ossicles, style, rng), style, rng)
        sentences += _region(_mastoid_descriptor(left), _mastoid_descriptor(right),
                             lambda: _mastoid_clauses(*_mastoid_descriptor(left), style, rng),
                             lambda: _mastoid_clauses(*_mastoid_descriptor(right), style, rng), style, rng)

    sentences.append(_both([style.pick("inner_ear", rng)], style, rng))
    if _surroundings_descriptor(left) == _surroundings_descriptor(right):
        if left.facial_canal_widened or left.jugular_foramen_erosion:
            sentences.append(_both(_surroundings_clauses(left, style, rng), style, rng))
        elif rng.random() < 0.5:
            sentences.append(_both([style.pick("surroundings_normal", rng)], style, rng))
    else:
        for side, ear in ears.items():
            clauses = _surroundings_clauses(ear, style, rng)
            if clauses:
                sentences.append(_sided(side, clauses, style, rng))
    return sentences


def _disease_name(ear: EarAttributes, style: ReportStyle, rng: np.random.Generator) -> str:
    if ear.code == 6:
        return style.pick(ear.tumour_site or "tympanic", rng)
    return style.pick(ear.code, rng)


def _impression_of(side_word: str, ear: EarAttributes, name: str, style: ReportStyle,
                   rng: np.random.Generator) -> str:
    """One impression sentence; hedged sometimes (rarer diseases more often)."""
    if ear.code == 4 and rng.random() < 0.5:  # the proposal's description, then the name
        site = CYST_SITE_WORDS[_cyst_site(ear)].rstrip("区内")
        return style.pick("cyst_impression", rng).format(s=side_word, site=site) + style.pick("cyst_name", rng)
    if rng.random() >= HEDGE_RATES[ear.code]:
        return side_word + name
    return style.pick("hedge", rng).format(s=side_word, n=name)


def _impression_sentences(left: EarAttributes, right: EarAttributes, style: ReportStyle,
                          rng: np.random.Generator) -> list[str]:
    if left.is_normal and right.is_normal:
        return [_both([style.pick("normal_impression", rng)], style, rng)]
    names = {side: "" if ear.is_normal else _disease_name(ear, style, rng) for side, ear in (("left", left), ("right", right))}
    if left.code == right.code and names["left"] == names["right"] and _cyst_site(left) == _cyst_site(right):
        return [_impression_of(_pick(rng, style.bilateral), left, names["left"], style, rng)]
    sentences = {}
    for side, ear in (("left", left), ("right", right)):
        side_word = _pick(rng, getattr(style, side))
        if ear.is_normal:
            sentences[side] = side_word + style.pick("normal_impression", rng)
        else:
            sentences[side] = _impression_of(side_word, ear, names[side], style, rng)
    diseased_first = ("right", "left") if left.is_normal else ("left", "right")
    return [sentences[side] for side in diseased_first]


# --------------------------------------------------------------------------------------------------
def _add_noise(sentences: list[str], rng: np.random.Generator, noise_rate: float, droppable: bool) -> list[str]:
    noisy: list[str] = []
    for sentence in sentences:
        if rng.random() >= noise_rate:
            noisy.append(sentence)
            continue
        kind = _pick(rng, ("drop", "space", "synonym") if droppable else ("space", "synonym"))
        if kind == "drop":
            continue
        if kind == "space":
            slots = [i for i in range(1, len(sentence))
                     if sentence[i - 1] not in _SIDE_CHARACTERS and sentence[i] not in _SIDE_CHARACTERS]
            if slots:
                i = slots[int(rng.integers(len(slots)))]
                sentence = sentence[:i] + _pick(rng, (" ", "\u3000")) + sentence[i:]
        else:
            swaps = [(a, b) for a, b in SYNONYM_SWAPS if a in sentence]
            swaps += [(b, a) for a, b in SYNONYM_SWAPS if b in sentence]
            if swaps:
                old, new = swaps[int(rng.integers(len(swaps)))]
                sentence = sentence.replace(old, new, 1)
        noisy.append(sentence)
    return noisy


def write_synthetic_report(
    left: EarAttributes, right: EarAttributes, rng: np.random.Generator, *, noise_rate: float = 0.03,
    style: str | None = None,
) -> tuple[str, str]:
    """Write the (影像所见, 检查结论) of one exam from the attributes of its two ears.

    Args:
        left: attributes of the left ear.
        right: attributes of the right ear.
        rng: the only source of randomness; the same seed gives the same report.
        noise_rate: probability per sentence of a noise event (dropped findings sentence, extra space,
            synonym swap). 0 gives clean reports.
        style: the radiologist's style (a key of `REPORT_STYLES`); None draws it from `rng` first
            (`pick_report_style`), so a caller that records the style draws it itself and passes it.

    Returns:
        `(findings, impression)`, both ending in 。.

    Example:
        >>> from bicpl_hf.synthetic.attributes import sample_ear_attributes
        >>> rng = np.random.default_rng(3)
        >>> left = sample_ear_attributes(2, rng)
        >>> findings, impression = write_synthetic_report(left, EarAttributes(code=5), rng, style="standard")
        >>> impression.split("；")[0].startswith("左") and "胆脂瘤" in impression
        True
    """
    for name, ear in (("left", left), ("right", right)):
        if not isinstance(ear, EarAttributes):
            raise TypeError(f"write_synthetic_report: `{name}` must be an EarAttributes, got {type(ear).__name__}")
        if ear.code not in CLASS_NAMES_ZH:
            raise ValueError(f"write_synthetic_report: `{name}.code` is {ear.code!r}; "
                             f"expected one of {sorted(CLASS_NAMES_ZH)}")
        if ear.code == 6 and ear.tumour_site is None:
            raise ValueError(f"write_synthetic_report: `{name}` has code 6 but no tumour_site; the impression needs it")
    if not 0.0 <= noise_rate <= 1.0:
        raise ValueError(f"write_synthetic_report: noise_rate must be in [0, 1], got {noise_rate!r}")
    if style is None:
        style = pick_report_style(rng)
    if style not in REPORT_STYLES:
        raise ValueError(f"write_synthetic_report: style is {style!r}; expected one of {sorted(REPORT_STYLES)}")
    writer = REPORT_STYLES[style]

    findings = _add_noise(_findings_sentences(left, right, writer, rng), rng, noise_rate, droppable=True)
    impression = _add_noise(_impression_sentences(left, right, writer, rng), rng, noise_rate, droppable=False)
    texts = "。".join(findings) + "。", "；".join(impression) + "。"
    # Traditional script last, so noise (written for simplified words) and side-word spacing rules still apply.
    return tuple(map(to_traditional, texts)) if writer.traditional else texts  # type: ignore[return-value]


# The name before "report" was kept for the radiology report itself; old callers keep working.
write_report = write_synthetic_report

__all__ = ["BILATERAL_WORDS", "CYST_SITE_WORDS", "DISEASE_NAMES", "NORMAL_IMPRESSIONS", "REPORT_STYLES", "SIDE_WORDS",
           "SYNONYM_SWAPS", "TUMOUR_NAMES", "pick_report_style", "write_report", "write_synthetic_report"]
