"""Radiologists' report styles of the synthetic benchmark: one coherent phrase pool per style.

Each exam's report is written by one style, picked per exam (`pick_report_style`). Styles differ in
synonyms, abbreviations, side words, hedges, layout (region-first, or side-first when the ears differ)
and script (one writes traditional characters). The pools are written from radiology practice, not
from the knowledge base's prompt templates: apart from standard terms (disease names, 外耳道通畅,
听骨链完整, 边缘光滑, 软组织肿块) no knowledge-base clause occurs verbatim (benchmarks/report_wording_check.py).
Every phrase must stay readable by the report parser (`processing/report_lexicon.py`); the clinical
content of a slot (what a finding looks like) is the same in every style.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..processing.report_lexicon import TRADITIONAL_TO_SIMPLIFIED


@dataclass(frozen=True)
class ReportStyle:
    """One radiologist's wording: side words, layout, script and a phrase pool per report slot."""

    name: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    bilateral: tuple[str, ...]
    layout: str  # "region": region by region (双侧 when equal); "side": a whole-ear sentence per side when ears differ
    traditional: bool  # rendered in traditional characters at the end
    phrases: dict

    def pick(self, slot: str, rng: np.random.Generator) -> str:
        options = self.phrases[slot]
        return options[int(rng.integers(len(options)))]


_SHARED_TUMOURS = {
    "facial_canal": ("面神经鞘瘤", "面神经瘤", "面神经鞘瘤"),
    "jugular_foramen": ("颈静脉球瘤", "颈静脉球瘤", "占位性病变"),
    "tympanic": ("鼓室球瘤", "鼓室球瘤", "占位性病变"),
}

# Style A: full standard terms, region-first, 双侧/左侧/右侧 (the original generator's radiologist).
_STANDARD = ReportStyle(
    name="standard", left=("左侧", "左侧", "左侧", "左耳"), right=("右侧", "右侧", "右侧", "右耳"),
    bilateral=("双侧", "双侧", "双侧", "两侧", "双耳"), layout="region", traditional=False,
    phrases={
        "ext_canal": ("外耳道通畅", "外耳道通畅", "外耳道骨部通畅，骨壁光整"),
        "cyst_body": ("见类圆形软组织密度影", "见类圆形囊性软组织密度影"),
        "cyst_expansile": ("呈膨胀性骨质改变", "局部膨胀性改变"),
        "cyst_margin": ("边缘光滑",),
        "cyst_thin": ("邻近骨质受压变薄但完整", "周围骨壁受压变薄但完整"),
        "cyst_no_erosion": ("无侵蚀性骨质破坏",),
        "attic_mass": ("上鼓室腔内见软组织密度影", "上鼓室及鼓窦入口区见团块状软组织密度影"),
        "attic_widened": ("上鼓室腔扩大",),
        "scutum": ("鼓室盾板骨质吸收变钝", "盾板骨质破坏"),
        "aditus": ("鼓窦入口区扩大", "鼓窦入口区增宽"),
        "tympanic_tumour": ("鼓室内见结节状软组织肿块", "下鼓室见软组织肿块"),
        "effusion": ("鼓室腔内见液体密度影", "鼓室积液", "鼓室及鼓窦内见积液"),
        "air_fluid": ("可见液气平面", "伴气液平面"),
        "bubbles": ("内见小气泡", "可见小气泡影"),
        "soft_tissue_0": ("鼓室内见少许软组织密度影", "鼓室内见小片状软组织影"),
        "soft_tissue_1": ("鼓室内见片状软组织密度影", "鼓室及鼓窦内见软组织影"),
        "soft_tissue_2": ("鼓室内充填软组织密度影", "鼓室及鼓窦内充满软组织密度影"),
        "mucosa": ("鼓室内黏膜增厚", "中耳黏膜增厚"),
        "tympanic_clear": ("鼓室腔清晰", "鼓室内未见异常密度影"),
        "ossicles_intact": ("听骨链完整", "听骨链完整，骨质未见破坏"),
        "ossicles_partial": ("听小骨部分骨质吸收", "砧骨长突骨质吸收", "听小骨部分骨质破坏"),
        "ossicles_severe": ("听小骨骨质吸收、破坏，部分显示不清", "听骨链明显骨质侵蚀", "听小骨明显骨质吸收破坏"),
        "mastoid_pneumatized": ("乳突为气化型", "乳突为气化型，气房清晰"),
        "mastoid_diploic": ("乳突为板障型",),
        "mastoid_sclerotic": ("乳突为硬化型", "乳突气化不良，骨质致密硬化"),
        "mastoid_fluid": ("乳突气房内液体密度影",),
        "mastoid_tissue": ("乳突气房内可见软组织密度影",),
        "mastoid_opacified": ("乳突气房密度增高", "乳突小房混浊"),
        "inner_ear": ("内耳结构未见异常", "耳蜗、前庭、半规管未见异常"),
        "facial_widened": ("面神经管水平段增宽", "面神经管膝部增宽"),
        "facial_tissue": ("周围见软组织密度影",),
        "jugular_widened": ("颈静脉孔扩大", "颈静脉孔增宽"),
        "jugular_erosion": ("边缘骨质侵蚀破坏",),
        "jugular_tissue": ("内见软组织密度影",),
        "surroundings_normal": ("面神经管未见增宽", "颈静脉孔未见扩大"),
        "normal_impression": ("中耳乳突CT未见明显异常", "中耳乳突未见异常", "中耳及乳突未见明显异常"),
        "hedge": ("考虑{s}{n}", "{s}{n}可能", "{s}{n}不除外", "{s}{n}待排", "{s}{n}，建议结合临床"),
        "cyst_impression": ("{s}{site}膨胀性病变，边缘光滑，骨质变薄但完整",),
        "cyst_name": ("，考虑胆固醇肉芽肿", "，胆固醇肉芽肿可能", "，符合胆固醇肉芽肿"),
        1: ("慢性化脓性中耳炎", "慢性中耳乳突炎", "中耳乳突炎", "慢性中耳炎"),
        2: ("中耳胆脂瘤", "中耳胆脂瘤", "胆脂瘤型中耳炎"),
        3: ("分泌性中耳炎", "分泌性中耳炎", "渗出性中耳炎", "中耳积液"),
        4: ("胆固醇肉芽肿",),
        **_SHARED_TUMOURS,
    },
)

# Style B: terse, abbreviated (双/左/右, 听骨, 鼓窦口, 软组织影), side-first when the ears differ.
_TERSE = ReportStyle(
    name="terse", left=("左", "左侧"), right=("右", "右侧"), bilateral=("双", "双侧"), layout="side",
    traditional=False,
    phrases={
        "ext_canal": ("外耳道通畅", "外耳道无狭窄"),
        "cyst_body": ("见圆形软组织影", "类圆形软组织影"),
        "cyst_expansile": ("膨胀性生长",),
        "cyst_margin": ("边缘光滑",),
        "cyst_thin": ("骨壁变薄但完整",),
        "cyst_no_erosion": ("未见骨质侵蚀",),
        "attic_mass": ("上鼓室软组织影", "上鼓室团片状软组织影"),
        "attic_widened": ("上鼓室腔增宽",),
        "scutum": ("盾板骨质吸收", "盾板吸收变钝"),
        "aditus": ("鼓窦口扩大",),
        "tympanic_tumour": ("下鼓室软组织肿块", "鼓岬旁软组织肿块"),
        "effusion": ("鼓室积液", "鼓室液性密度影"),
        "air_fluid": ("见液平",),
        "bubbles": ("伴小气泡",),
        "soft_tissue_0": ("鼓室少许软组织影",),
        "soft_tissue_1": ("鼓室片状软组织影",),
        "soft_tissue_2": ("鼓室软组织影充填",),
        "mucosa": ("中耳粘膜增厚",),
        "tympanic_clear": ("鼓室未见异常",),
        "ossicles_intact": ("听骨完整", "听骨链完整"),
        "ossicles_partial": ("听骨部分吸收", "砧骨长突吸收"),
        "ossicles_severe": ("听骨破坏", "锤砧骨骨质缺损"),
        "mastoid_pneumatized": ("乳突气化好",),
        "mastoid_diploic": ("乳突板障型",),
        "mastoid_sclerotic": ("乳突气化不良，呈硬化型",),
        "mastoid_fluid": ("乳突气房积液",),
        "mastoid_tissue": ("乳突小房内软组织影",),
        "mastoid_opacified": ("乳突小房混浊",),
        "inner_ear": ("内耳未见异常",),
        "facial_widened": ("面神经管膝段扩大",),
        "facial_tissue": ("伴软组织影",),
        "jugular_widened": ("颈静脉孔区扩大",),
        "jugular_erosion": ("边缘骨质虫蚀样破坏",),
        "jugular_tissue": ("内见软组织影",),
        "surroundings_normal": ("面神经管未见异常",),
        "normal_impression": ("中耳乳突未见异常", "颞骨CT平扫未见异常"),
        "hedge": ("{s}{n}？", "{s}{n}可能", "考虑{s}{n}", "{s}{n}待排"),
        "cyst_impression": ("{s}{site}膨胀性病变，骨壁变薄但完整",),
        "cyst_name": ("，胆固醇肉芽肿？", "，考虑胆固醇肉芽肿"),
        1: ("慢性中耳乳突炎", "中耳乳突炎"),
        2: ("胆脂瘤", "中耳胆脂瘤"),
        3: ("分泌性中耳炎", "中耳积液"),
        4: ("胆固醇肉芽肿",),
        "facial_canal": ("面神经鞘瘤",),
        "jugular_foramen": ("颈静脉球瘤", "占位"),
        "tympanic": ("鼓室球瘤", "占位"),
    },
)

# Style C: descriptive, 两侧/左耳/右耳, written in traditional characters (see `_to_traditional`).
_TRADITIONAL = ReportStyle(
    name="traditional", left=("左侧", "左耳"), right=("右侧", "右耳"), bilateral=("两侧", "双侧", "双耳"),
    layout="region", traditional=True,
    phrases={
        "ext_canal": ("外耳道形态正常，管腔通畅",),
        "cyst_body": ("可见一类圆形软组织密度影",),
        "cyst_expansile": ("膨胀性改变明显",),
        "cyst_margin": ("边缘光滑锐利",),
        "cyst_thin": ("周围骨壁受压变薄但完整",),
        "cyst_no_erosion": ("未见侵蚀性骨破坏",),
        "attic_mass": ("上鼓室内可见软组织密度影",),
        "attic_widened": ("上鼓室腔明显扩大",),
        "scutum": ("鼓室盾板骨质侵蚀",),
        "aditus": ("鼓窦入口明显增宽",),
        "tympanic_tumour": ("鼓室内见结节状软组织肿块",),
        "effusion": ("鼓室及鼓窦内见积液", "鼓室内见液性密度影"),
        "air_fluid": ("可见气液平",),
        "bubbles": ("并见少许气泡",),
        "soft_tissue_0": ("鼓室腔内见少量软组织密度影",),
        "soft_tissue_1": ("鼓室腔内见斑片状软组织密度影",),
        "soft_tissue_2": ("鼓室腔内充填软组织密度影",),
        "mucosa": ("鼓室内黏膜增厚",),
        "tympanic_clear": ("鼓室含气可", "鼓室腔清晰"),
        "ossicles_intact": ("听小骨形态、密度未见异常",),
        "ossicles_partial": ("听小骨骨质部分侵蚀",),
        "ossicles_severe": ("听骨链骨质明显吸收破坏",),
        "mastoid_pneumatized": ("乳突气房发育良好，属气化型",),
        "mastoid_diploic": ("乳突属板障型",),
        "mastoid_sclerotic": ("乳突气化不良，为硬化型",),
        "mastoid_fluid": ("乳突气房内见液性密度影",),
        "mastoid_tissue": ("乳突气房内可见软组织密度影",),
        "mastoid_opacified": ("乳突气房密度增高",),
        "inner_ear": ("内耳诸结构形态、密度正常",),
        "facial_widened": ("面神经管水平段扩大",),
        "facial_tissue": ("周围见软组织密度影",),
        "jugular_widened": ("颈静脉孔扩大",),
        "jugular_erosion": ("边缘骨质侵蚀破坏",),
        "jugular_tissue": ("内见软组织密度影",),
        "surroundings_normal": ("面神经管及颈静脉孔未见异常",),
        "normal_impression": ("中耳及乳突未见明显异常",),
        "hedge": ("{s}{n}可能性大", "{s}{n}，请结合临床", "{s}倾向{n}", "{s}{n}不能除外"),
        "cyst_impression": ("{s}{site}膨胀性病变，边缘光滑，骨质变薄但完整",),
        "cyst_name": ("，考虑胆固醇肉芽肿", "，胆固醇肉芽肿可能性大"),
        1: ("慢性化脓性中耳炎", "慢性中耳乳突炎"),
        2: ("胆脂瘤型中耳炎", "中耳胆脂瘤"),
        3: ("分泌性中耳炎", "渗出性中耳炎"),
        4: ("胆固醇肉芽肿",),
        **_SHARED_TUMOURS,
    },
)

REPORT_STYLES: dict[str, ReportStyle] = {s.name: s for s in (_STANDARD, _TERSE, _TRADITIONAL)}
STYLE_SHARES = {"standard": 0.4, "terse": 0.35, "traditional": 0.25}  # per exam

# Simplified -> traditional: the inverse of the parser's table (first pair wins for 里/复/净), so every
# converted character is one the parser maps back.
_TO_TRADITIONAL: dict[int, str] = {}
for _traditional, _simplified in TRADITIONAL_TO_SIMPLIFIED.items():
    _TO_TRADITIONAL.setdefault(ord(_simplified), chr(_traditional))


def to_traditional(text: str) -> str:
    """Render simplified text in traditional characters (those the report parser knows)."""
    return text.translate(_TO_TRADITIONAL)


def pick_report_style(rng: np.random.Generator) -> str:
    """The style of one exam's report (one uniform draw from `rng`)."""
    names = list(STYLE_SHARES)
    cumulative = np.cumsum([STYLE_SHARES[n] for n in names])
    return names[int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))]


def _check_styles() -> None:
    slots = set(_STANDARD.phrases)
    for style in REPORT_STYLES.values():
        if set(style.phrases) != slots:
            raise ValueError(f"report_styles: style {style.name!r} lacks or adds slots "
                             f"{sorted(map(str, set(style.phrases) ^ slots))}")


_check_styles()

__all__ = ["REPORT_STYLES", "STYLE_SHARES", "ReportStyle", "pick_report_style", "to_traditional"]
