"""Chinese radiology reports of the synthetic benchmark, written from per-ear attributes.

A report has the two columns of the hospital export: 影像所见 (findings) and 检查结论 (impression). The
findings follow the radiologists' order 外耳道 → 鼓膜/鼓室 → 听骨链 → 乳突 → 内耳及周围 and describe each
ear from its `EarAttributes` (never from the class code); the impression names the disease of each
ear from its code, sometimes hedged (考虑/可能/不除外/待排). A region is described in one 双侧 sentence
only when both ears' descriptions of it agree; otherwise each side gets its own sentence that names
its side first, so the text about one ear never carries the other ear's lesions.

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

SIDE_WORDS = {"left": ("左侧", "左侧", "左侧", "左耳"), "right": ("右侧", "右侧", "右侧", "右耳")}
BILATERAL_WORDS = ("双侧", "双侧", "双侧", "两侧", "双耳")

# Impression disease names per code; every name maps back to its code in the report parser's lexicon.
DISEASE_NAMES = {
    1: ("慢性化脓性中耳炎", "慢性中耳乳突炎", "中耳乳突炎", "慢性中耳炎"),
    2: ("中耳胆脂瘤", "中耳胆脂瘤", "胆脂瘤型中耳炎"),
    3: ("分泌性中耳炎", "分泌性中耳炎", "渗出性中耳炎", "中耳积液"),
    4: ("胆固醇肉芽肿",),
}
TUMOUR_NAMES = {
    "facial_canal": ("面神经鞘瘤", "面神经瘤", "面神经鞘瘤"),
    "jugular_foramen": ("颈静脉球瘤", "颈静脉球瘤", "占位性病变"),
    "tympanic": ("鼓室球瘤", "鼓室球瘤", "占位性病变"),
}
# Where the cyst of code 4 is; without a recorded site the text names the temporal bone only.
CYST_SITE_WORDS = {"petrous_apex": "岩尖区", "antrum": "鼓窦区", None: "颞骨内"}
ATTIC_WIDENING_EXTENT = 0.3  # an attic mass this large (severity x extent) widens the attic in the text
NORMAL_IMPRESSIONS = ("中耳未见明显异常", "中耳乳突未见明显异常", "中耳乳突未见异常")

# Noise: swaps between words of the same meaning (never a side word, never a disease name).
SYNONYM_SWAPS = (
    ("软组织密度影", "软组织影"), ("骨质吸收", "骨质破坏"), ("增宽", "扩大"),
    ("黏膜增厚", "粘膜增厚"), ("气液平面", "液平"), ("听骨链完整", "听小骨形态完整"), ("清晰", "清楚"),
)
_SIDE_CHARACTERS = set("左右双两侧耳")


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
def _tympanic_clauses(ear: EarAttributes, rng: np.random.Generator) -> list[str]:
    clauses: list[str] = []
    for fact in _tympanic_descriptor(ear):
        kind = fact[0]
        if kind == "expansile_cyst":  # cholesterol granuloma, the proposal's wording
            clauses += [
                CYST_SITE_WORDS[fact[2]] + _pick(rng, ("见类圆形软组织密度影", "见类圆形囊性软组织密度影")),
                _pick(rng, ("呈膨胀性改变", "呈膨胀性生长")),
                "边缘光滑",
            ]
            if fact[1]:
                clauses += [_pick(rng, ("邻近骨壁变薄但完整", "周围骨质变薄但完整")), "未见骨质侵蚀性破坏"]
        elif kind == "epitympanic_mass":
            clauses.append(_pick(rng, ("上鼓室及鼓窦入口区见软组织密度影", "上鼓室内见软组织影")))
            if fact[3]:
                clauses.append("上鼓室扩大")
            if fact[1]:
                clauses.append(_pick(rng, ("鼓室盾板骨质吸收变钝", "盾板骨质破坏")))
            if fact[2]:
                clauses.append(_pick(rng, ("鼓窦入口扩大", "鼓窦入口增宽")))
        elif kind == "scutum_erosion":
            clauses.append(_pick(rng, ("鼓室盾板骨质吸收变钝", "盾板骨质吸收")))
        elif kind == "aditus_widening":
            clauses.append(_pick(rng, ("鼓窦入口扩大", "鼓窦入口增宽")))
        elif kind == "tympanic_tumour":
            clauses.append(_pick(rng, ("鼓室内见结节状软组织肿块", "下鼓室见软组织肿块")))
        elif kind == "effusion":
            clauses.append(_pick(rng, ("鼓室内见液体密度影", "鼓室积液", "鼓室及鼓窦内见积液")))
            if fact[1]:
                clauses.append(_pick(rng, ("可见气液平面", "内见液平")))
            if fact[2]:
                clauses.append(_pick(rng, ("内见小气泡", "可见气泡")))
        elif kind == "soft_tissue":
            clauses.append(
                _pick(rng, (("鼓室内见少许软组织密度影", "鼓室内见小片状软组织影"),
                            ("鼓室内见片状软组织密度影", "鼓室及鼓窦内见软组织影"),
                            ("鼓室内充填软组织密度影", "鼓室及鼓窦内充满软组织密度影"))[fact[1]])
            )
        elif kind == "mucosa":
            clauses.append(_pick(rng, ("鼓室黏膜增厚", "鼓室粘膜增厚")))
    return clauses or [_pick(rng, ("鼓室清晰", "鼓室内未见异常密度影", "鼓室含气良好"))]


def _ossicle_clauses(state: str, rng: np.random.Generator) -> list[str]:
    if state == "intact":
        return [_pick(rng, ("听骨链完整", "听小骨形态正常", "听骨链完整，未见骨质破坏"))]
    if state == "partial_erosion":
        return [_pick(rng, ("听小骨骨质吸收", "砧骨长突骨质吸收", "听小骨部分骨质破坏"))]
    return [_pick(rng, ("听小骨骨质吸收破坏，部分显示不清", "听骨链骨质破坏", "听小骨明显骨质吸收破坏"))]


def _mastoid_clauses(mastoid: str, opacified: bool, fluid: bool, rng: np.random.Generator) -> list[str]:
    clauses = [
        _pick(rng, {
            "pneumatized": ("乳突气化良好", "乳突呈气化型"),
            "diploic": ("乳突呈板障型", "乳突呈板障型"),
            "sclerotic": ("乳突呈硬化型", "乳突气化差，骨质硬化"),
        }[mastoid])
    ]
    if opacified:
        content = "乳突气房内见液体密度影" if fluid else "乳突气房内见软组织密度影"
        clauses.append(_pick(rng, (content, "乳突气房密度增高", "乳突小房混浊")))
    return clauses


def _surroundings_clauses(ear: EarAttributes, rng: np.random.Generator) -> list[str]:
    clauses: list[str] = []
    if ear.facial_canal_widened:
        clauses += [_pick(rng, ("面神经管水平段增宽", "面神经管膝部增宽")), "周围见软组织密度影"]
    if ear.jugular_foramen_erosion:
        clauses += [_pick(rng, ("颈静脉孔扩大", "颈静脉孔增宽")), "边缘骨质侵蚀破坏", "内见软组织密度影"]
    return clauses


# --------------------------------------------------------------------------------------------------
def _sided(side: str, clauses: list[str], rng: np.random.Generator) -> str:
    """One sentence about one ear: the side word opens it, the later clauses inherit the side."""
    return _pick(rng, SIDE_WORDS[side]) + "，".join(clauses)


def _region(
    left_key, right_key, render_left, render_right, rng: np.random.Generator
) -> list[str]:
    """A 双侧 sentence when both ears' descriptors agree, else one sentence per side."""
    if left_key == right_key:
        return [_pick(rng, BILATERAL_WORDS) + "，".join(render_left())]
    return [_sided("left", render_left(), rng), _sided("right", render_right(), rng)]


def _findings_sentences(left: EarAttributes, right: EarAttributes, rng: np.random.Generator) -> list[str]:
    ears = {"left": left, "right": right}
    sentences = [_pick(rng, BILATERAL_WORDS) + _pick(rng, ("外耳道通畅", "外耳道通畅", "外耳道未见狭窄"))]

    tympanic_equal = _tympanic_descriptor(left) == _tympanic_descriptor(right)
    ossicles_equal = left.ossicles == right.ossicles
    if not tympanic_equal and not ossicles_equal:  # 左侧鼓室…，听小骨…。右侧鼓室…，听骨链…
        for side, ear in ears.items():
            sentences.append(_sided(side, _tympanic_clauses(ear, rng) + _ossicle_clauses(ear.ossicles, rng), rng))
    elif tympanic_equal and ossicles_equal:  # 双侧鼓室清晰，听骨链完整
        clauses = _tympanic_clauses(left, rng) + _ossicle_clauses(left.ossicles, rng)
        sentences.append(_pick(rng, BILATERAL_WORDS) + "，".join(clauses))
    else:
        sentences += _region(_tympanic_descriptor(left), _tympanic_descriptor(right),
                             lambda: _tympanic_clauses(left, rng), lambda: _tympanic_clauses(right, rng), rng)
        sentences += _region(left.ossicles, right.ossicles, lambda: _ossicle_clauses(left.ossicles, rng),
                             lambda: _ossicle_clauses(right.ossicles, rng), rng)

    sentences += _region(_mastoid_descriptor(left), _mastoid_descriptor(right),
                         lambda: _mastoid_clauses(*_mastoid_descriptor(left), rng),
                         lambda: _mastoid_clauses(*_mastoid_descriptor(right), rng), rng)

    inner_ear = _pick(rng, ("内耳结构未见明显异常", "耳蜗、前庭及半规管未见明显异常"))
    sentences.append(_pick(rng, BILATERAL_WORDS) + inner_ear)
    if _surroundings_descriptor(left) == _surroundings_descriptor(right):
        if left.facial_canal_widened or left.jugular_foramen_erosion:
            sentences.append(_pick(rng, BILATERAL_WORDS) + "，".join(_surroundings_clauses(left, rng)))
        elif rng.random() < 0.5:
            sentences.append(_pick(rng, BILATERAL_WORDS) + _pick(rng, ("面神经管未见增宽", "颈静脉孔未见扩大")))
    else:
        for side, ear in ears.items():
            clauses = _surroundings_clauses(ear, rng)
            if clauses:
                sentences.append(_sided(side, clauses, rng))
    return sentences


def _disease_name(ear: EarAttributes, rng: np.random.Generator) -> str:
    if ear.code == 6:
        return _pick(rng, TUMOUR_NAMES[ear.tumour_site or "tympanic"])
    return _pick(rng, DISEASE_NAMES[ear.code])


def _impression_of(side_word: str, ear: EarAttributes, name: str, rng: np.random.Generator) -> str:
    """One impression sentence; hedged sometimes (rarer diseases more often)."""
    if ear.code == 4 and rng.random() < 0.5:  # the proposal's description, then the name
        site = CYST_SITE_WORDS[_cyst_site(ear)].rstrip("区内")
        body = f"{side_word}{site}膨胀性病变，边缘光滑，骨质变薄但完整"
        return body + _pick(rng, ("，考虑胆固醇肉芽肿", "，胆固醇肉芽肿可能", "，符合胆固醇肉芽肿"))
    hedge_rate = {1: 0.15, 2: 0.3, 3: 0.15, 4: 0.5, 6: 0.4}[ear.code]
    if rng.random() >= hedge_rate:
        return side_word + name
    form = _pick(rng, ("考虑{s}{n}", "{s}{n}可能", "{s}{n}不除外", "{s}{n}待排", "{s}{n}，建议结合临床"))
    return form.format(s=side_word, n=name)


def _impression_sentences(left: EarAttributes, right: EarAttributes, rng: np.random.Generator) -> list[str]:
    if left.is_normal and right.is_normal:
        return [_pick(rng, BILATERAL_WORDS) + _pick(rng, NORMAL_IMPRESSIONS)]
    names = {side: "" if ear.is_normal else _disease_name(ear, rng) for side, ear in (("left", left), ("right", right))}
    if left.code == right.code and names["left"] == names["right"] and _cyst_site(left) == _cyst_site(right):
        return [_impression_of(_pick(rng, BILATERAL_WORDS), left, names["left"], rng)]
    sentences = {}
    for side, ear in (("left", left), ("right", right)):
        side_word = _pick(rng, SIDE_WORDS[side])
        if ear.is_normal:
            sentences[side] = side_word + _pick(rng, NORMAL_IMPRESSIONS)
        else:
            sentences[side] = _impression_of(side_word, ear, names[side], rng)
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
    left: EarAttributes, right: EarAttributes, rng: np.random.Generator, *, noise_rate: float = 0.03
) -> tuple[str, str]:
    """Write the (影像所见, 检查结论) of one exam from the attributes of its two ears.

    Args:
        left: attributes of the left ear.
        right: attributes of the right ear.
        rng: the only source of randomness; the same seed gives the same report.
        noise_rate: probability per sentence of a noise event (dropped findings sentence, extra space,
            synonym swap). 0 gives clean reports.

    Returns:
        `(findings, impression)`, both ending in 。.

    Example:
        >>> from bicpl_hf.synthetic.attributes import sample_ear_attributes
        >>> rng = np.random.default_rng(3)
        >>> findings, impression = write_synthetic_report(sample_ear_attributes(2, rng), EarAttributes(code=5), rng)
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

    findings = _add_noise(_findings_sentences(left, right, rng), rng, noise_rate, droppable=True)
    impression = _add_noise(_impression_sentences(left, right, rng), rng, noise_rate, droppable=False)
    return "。".join(findings) + "。", "；".join(impression) + "。"


# The name before "report" was kept for the radiology report itself; old callers keep working.
write_report = write_synthetic_report

__all__ = ["BILATERAL_WORDS", "CYST_SITE_WORDS", "DISEASE_NAMES", "NORMAL_IMPRESSIONS", "SIDE_WORDS", "SYNONYM_SWAPS",
           "TUMOUR_NAMES", "write_report", "write_synthetic_report"]
