"""Word lists of the Chinese temporal-bone CT report parser (`report_parser.py`).

Everything here is data: section headers, laterality / negation / hedge cues, the entity and
attribute lexicons of the entity–attribute–side triples, the disease → ear-code lexicon and a
traditional → simplified character table covering the vocabulary of ear CT reports. All terms are
written in simplified characters; the parser converts the input before matching.

Example:
    >>> from bicpl_hf.processing.report_lexicon import DISEASE_CODES, to_simplified
    >>> to_simplified("左側中耳膽脂瘤"), DISEASE_CODES["中耳胆脂瘤"]
    ('左侧中耳胆脂瘤', 2)
"""

from __future__ import annotations

import re

from .ear_classes import CLASS_CODE_BY_NAME_ZH, CLASS_CODES, NORMAL_CODE

# --------------------------------------------------------------------------------------------------
# Traditional -> simplified. One "traditional simplified" pair per token; limited to the characters
# that occur in ear / head CT reports (anatomy, findings, hedges, headers). Characters whose
# simplified form is ambiguous out of context (著, 乾, 髮) are left alone on purpose.
_TRADITIONAL_PAIRS = """
側侧 內内 見见 軟软 組组 織织 聽听 質质 壞坏 結结 論论 膽胆 雙双 兩两 竇窦 氣气 積积 蝕蚀 擴扩 寬宽
變变 脹胀 邊边 緣缘 暢畅 異异 顯显 確确 無无 沒没 認认 慮虑 傾倾 請请 臨临 診诊 斷断 檢检 現现 膿脓
滲渗 腫肿 經经 頸颈 靜静 脈脉 節节 佔占 狀状 錘锤 鐙镫 鏈链 蝸蜗 規规 構构 稱称 對对 線线 體体 區区
範范 圍围 為为 與与 並并 後后 窩窝 蓋盖 層层 術术 復复 發发 隨随 訪访 較较 於于 處处 點点 樣样 態态
壓压 損损 銳锐 帶带 來来 這这 個个 項项 顱颅 腦脑 頭头 頜颌 關关 雜杂 亂乱 鬆松 隱隐 約约 連连 續续
離离 開开 閉闭 滿满 實实 種种 類类 測测 試试 圖图 數数 據据 顧顾 鄰邻 僅仅 嚴严 輕轻 殘残 餘余 紋纹
徑径 長长 間间 顳颞 篩筛 鑒鉴 別别 議议 學学 醫医 師师 報报 級级 塊块 團团 細细 瘻瘘 際际 則则 勻匀
強强 減减 歲岁 齡龄 歷历 驗验 給给 純纯 絡络 網网 維维 縮缩 縫缝 總总 聯联 導导 將将 達达 進进 遠远
過过 還还 陰阴 陽阳 頂顶 軸轴 輪轮 鈣钙 鏡镜 門门 難难 電电 響响 顆颗 係系 傷伤 儀仪 兒儿 淨净 凈净
動动 單单 圓圆 夾夹 寫写 屬属 廣广 張张 彌弥 從从 徵征 應应 擠挤 擬拟 時时 暫暂 會会 條条 極极 標标
殼壳 況况 渾浑 溝沟 漸渐 潰溃 環环 當当 療疗 癥症 盡尽 穩稳 統统 綜综 緊紧 繼继 纖纤 臟脏 舊旧 號号
複复 視视 觀观 記记 該该 詳详 說说 豐丰 趨趋 跡迹 轉转 陳陈 險险 額额 齊齐 齒齿 裡里 裏里 週周 纍累
癒愈 膠胶 驟骤 劑剂 疊叠 絲丝 暈晕 聾聋 鳴鸣 癢痒 錐锥 顎颚
"""


def _build_traditional_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for pair in _TRADITIONAL_PAIRS.split():
        if len(pair) != 2:
            raise ValueError(f"report_lexicon: malformed traditional/simplified pair {pair!r}")
        table[ord(pair[0])] = pair[1]
    return table


TRADITIONAL_TO_SIMPLIFIED: dict[int, str] = _build_traditional_table()


def to_simplified(text: str) -> str:
    """Map the traditional characters of ear CT reports to simplified ones (character by character).

    Example:
        >>> to_simplified("聽小骨骨質破壞")
        '听小骨骨质破坏'
    """
    return text.translate(TRADITIONAL_TO_SIMPLIFIED)


# --------------------------------------------------------------------------------------------------
# Section headers (longest match wins, so 诊断意见 beats 诊断 and 影像所见 beats 所见).
FINDINGS_HEADERS: tuple[str, ...] = (
    "影像所见", "影像学所见", "检查所见", "影像表现", "影像学表现", "CT所见", "CT表现", "所见", "表现",
)
IMPRESSION_HEADERS: tuple[str, ...] = (
    "检查结论", "诊断意见", "诊断结论", "影像诊断", "影像学诊断", "影像结论", "影像印象", "检查印象",
    "印象诊断", "CT诊断", "诊断", "印象", "意见", "结论",
)
# Headers of sections that are neither findings nor impression; their text is kept in
# `ParsedReport.other_sections` so nothing in the input is silently dropped.
OTHER_HEADERS: tuple[str, ...] = (
    "检查方法", "检查技术", "扫描方法", "扫描技术", "检查部位", "检查项目", "检查名称", "临床诊断",
    "临床资料", "临床病史", "临床信息", "临床表现", "病史", "主诉",
)
# "颞骨CT示…" / "CT示：" style reports with no header: the text after the cue is the findings.
INLINE_FINDINGS_CUE = re.compile(
    r"(?:双侧|两侧)?(?:颞骨|耳部|中耳|内耳|乳突)?(?:高分辨率?|HR|薄层)?CT(?:平扫|检查|扫描|横断位|冠状位|轴位)*"
    r"(?:示|显示|提示)：?",
    re.IGNORECASE,
)

# --------------------------------------------------------------------------------------------------
# Laterality. Spans matching NON_EAR_SIDE_PATTERN are masked before side cues are searched, so
# 中线结构左移, 偏左, 左心, 右侧卧位, "约5mm左右" never make a clause left/right.
NON_EAR_SIDE_PATTERN = re.compile(
    r"[左右](?:侧)?卧位?|[左右](?:移位?|偏移?|旋|倾|心|肺|肾|手|下肢|上肢)|偏[左右]|向[左右]"
    r"|左右(?!两侧|双侧|侧|耳|两耳|(?:基本|大致)?对称)"
)
SIDE_CUE_PATTERN = re.compile(
    r"(?P<bilateral>左右两侧|左右双侧|左、右两侧|左、右侧|左、右耳|左右侧|左右两耳|左右耳|左及右侧|左和右侧"
    r"|左右(?:基本|大致)?对称|双侧|两侧|双耳|两耳|双(?!能|源|期|相|重|层))"
    r"|(?P<left>左侧|左耳|左)"
    r"|(?P<right>右侧|右耳|右)"
    r"|(?P<opposite>对侧)"
)

# --------------------------------------------------------------------------------------------------
# Negation: scope is the clause, forward from the cue (未见积液); BACKWARD cues negate what
# precedes them in the clause (骨质破坏不明显, 胆脂瘤可能性小). 有无 ("whether or not") is masked, it negates nothing.
NEGATION_CUES: tuple[str, ...] = (
    "未见明显", "未见确切", "未见异常", "未见", "未显示", "未发现", "未示", "未累及", "无明显", "无",
    "不伴", "没有", "否认",
)
BACKWARD_NEGATION_CUES: tuple[str, ...] = ("不明显", "可能性小", "可能性较小", "可能性不大")
NEGATION_MASK = re.compile(r"有无")
# A clause stating that something is unremarkable (a "normal" statement).
NORMAL_STATEMENT = re.compile(
    r"未见(?:明显|确切|明确)?(?:异常|病变|病灶|特殊)|无(?:明显)?异常|无特殊|(?<![不欠非])正常|(?<![不欠非])对称"
)
# Normal statements that refer to "the rest" (余颞骨未见异常): they cover the ears no other code names.
REST_NORMAL_CUE = re.compile(r"^余|(?<=[，、])余|其余|余(?:所见|部分|结构)")
# Attributes that describe a normal middle ear; an ear the findings describe with these on two or more
# middle-ear structures, and with no lesion, is normal even without a 未见异常 statement.
NORMAL_DESCRIPTOR_KEYS = frozenset({"pneumatized", "clear", "patent", "intact"})
# A mastoid that is poorly pneumatised or diploic is a normal variant: a side described so, with no lesion and
# no diagnosis of its own, is normal (乳突气化不良，未见软组织影 / 乳突呈板障型，鼓室清晰). Sclerosis is not: it
# follows chronic otitis.
NORMAL_VARIANT_KEYS = frozenset({"diploic", "poorly_pneumatized"})

# --------------------------------------------------------------------------------------------------
# Hedges. CLAUSE cues hedge their own clause (左侧胆脂瘤可能); FORWARD cues hedge their clause and the
# rest of the sentence (考虑左侧胆脂瘤，右侧中耳炎); SENTENCE cues hedge the whole sentence
# (左侧胆脂瘤，请结合临床). 符合 alone is a confident statement; 符合…？ is hedged by the question mark.
HEDGE_CLAUSE_CUES: tuple[str, ...] = (
    "不能除外", "不除外", "待除外", "待排除", "待排", "未除外", "可能", "疑似", "可疑", "怀疑", "疑", "似", "？",
    "鉴别",
)
# Among hedges, these name a differential diagnosis (胆脂瘤待排, 鉴别诊断：…): a side whose impression
# also names a diagnosis stated plainly or merely hedged (可能, 考虑) takes that one.
DIFFERENTIAL_CUES: tuple[str, ...] = ("不能除外", "不除外", "待除外", "待排除", "待排", "未除外", "鉴别")
# A differential that says which diagnosis is more likely: that one is the ear's code and the others of the
# sentence become differentials. 前者/后者 refer to the last two diagnoses named before them (胆脂瘤或慢性中耳炎，
# 前者可能性大); 以X可能性大 / 以X为主 and 倾向(于)X name it; X可能性较大/更大 compares it with the others.
_MORE_LIKELY = r"的?可能性?[较更稍]?[大高]|为主|多见|居多"
REFERENT_UNLIKELY = re.compile(r"(?P<a>前者|后者)的?可能性?[较更]?(?:小|低|不大)|(?:排除|不考虑)(?P<b>前者|后者)")
REFERENT_PREFERRED = re.compile(rf"(?:倾向于?|倾向为|考虑为?)(?P<a>前者|后者)|(?P<b>前者|后者)(?:{_MORE_LIKELY})")
PREFERRED_NAMED = re.compile(rf"以(?P<named>[^，]{{1,20}}?)(?:{_MORE_LIKELY})")
PREFERRED_AFTER = re.compile(r"倾向(?:于|为)?")  # the first diagnosis after it in the clause
PREFERRED_BEFORE = re.compile(r"可能性?[较更]大")  # the last diagnosis before it in the clause
HEDGE_FORWARD_CUES: tuple[str, ...] = ("考虑", "倾向于", "倾向", "拟诊")
HEDGE_SENTENCE_PATTERN = re.compile(r"结合临床|随诊|随访|建议.{0,12}?(?:检查|复查|MRI|增强)")
HEDGE_MASK = re.compile(r"类似|相似|近似")

# --------------------------------------------------------------------------------------------------
# Entities (surface term -> canonical key). Longest match wins (上鼓室 before 鼓室).
ENTITY_KEYS: dict[str, str] = {
    "外耳道": "external_canal",
    "鼓膜": "tympanic_membrane",
    "中耳": "middle_ear",
    "中耳乳突": "middle_ear",
    "鼓室": "tympanic_cavity",
    "中鼓室": "tympanic_cavity",
    "下鼓室": "tympanic_cavity",
    "上鼓室": "epitympanum",
    "鼓室盾板": "scutum",
    "盾板": "scutum",
    "鼓室天盖": "tegmen",
    "天盖": "tegmen",
    "鼓窦": "antrum",
    "鼓窦入口": "aditus",
    "乳突窦入口": "aditus",
    "鼓窦口": "aditus",
    "听小骨": "ossicles",
    "听骨链": "ossicles",
    "听骨": "ossicles",
    "锤骨": "ossicles",
    "砧骨": "ossicles",
    "镫骨": "ossicles",
    "锤砧关节": "ossicles",
    "锤砧骨": "ossicles",
    "乳突": "mastoid",
    "乳突气房": "mastoid",
    "乳突小房": "mastoid",
    "乳突窦": "mastoid",
    "面神经管": "facial_canal",
    "面神经": "facial_canal",
    "颈静脉孔": "jugular_foramen",
    "颈静脉球": "jugular_foramen",
    "颈静脉球窝": "jugular_foramen",
    "内耳": "inner_ear",
    "内耳结构": "inner_ear",
    "耳蜗": "inner_ear",
    "半规管": "inner_ear",
    "前庭": "inner_ear",
    "内耳道": "internal_auditory_canal",
    "内听道": "internal_auditory_canal",
    "岩尖": "petrous_apex",
    "岩部": "petrous_apex",
    "乙状窦": "sigmoid_sinus",
    "颞骨": "temporal_bone",
}
# Entities whose "未见明显异常" makes the ear normal (code 5); 内耳未见异常 says nothing about the
# middle ear, so it does not.
MIDDLE_EAR_SCOPE_KEYS = frozenset(
    {"middle_ear", "tympanic_cavity", "epitympanum", "antrum", "mastoid", "temporal_bone"}
)

# A symptom (耳鸣, 无耳鸣, 耳聋, 耳痛) is no ear structure: a clinical note whose only ear word is one is not
# an ear report, and its sentences about other organs give no ear code.
EAR_SYMPTOM_SUFFIX = r"鸣|聋|痛|闷|胀|痒|漏|流脓|溢"
# Words that make a text about the ear and temporal bone. Weak codes come only from an ear report and,
# in it, never from a sentence about another organ (NON_EAR_ORGAN_PATTERN) or the patient's history.
EAR_TERM_PATTERN = re.compile(
    "(?<!胸锁)(?:"  # 胸锁乳突肌 (sternocleidomastoid) is a neck muscle
    + "|".join(re.escape(t) for t in sorted(set(ENTITY_KEYS) - {"前庭", "岩部", "乙状窦"}, key=len, reverse=True))
    + r"|前庭(?!大腺)|颞骨岩部|乙状窦(?!结肠)|耳(?!鼻|后淋巴|" + EAR_SYMPTOM_SUFFIX + r")|咽鼓管|胆脂瘤"
    + r"|胆固醇(?:性)?肉芽肿|颈静脉球瘤|鼓室球瘤)"
)
# Structures near the ear that are not the ear (扁桃体, 鼻咽, 腮腺, 鼻窦, brain) are listed here too: 右侧腮腺占位 is
# no tumour of the right ear. A clause naming no structure takes the topic of the clause before it in the
# sentence (右侧扁桃体肿大，考虑占位), see `report_parser._analyse_sentence`.
NON_EAR_ORGAN_PATTERN = re.compile(
    r"颅内|颅脑|脑实质|脑室|脑沟|脑白质|脑干|脑桥|大脑|小脑|脑组织|[颞额顶枕]叶|基底节|鼻窦|鼻腔|鼻咽|鼻甲|鼻中隔|鼻骨|"
    r"筛窦|蝶窦|额窦|扁桃体|腺样体|咽(?!鼓)|腮腺|颌下腺|舌下腺|[上下]颌|颌面|颞下窝|翼腭窝|口腔|舌|牙|眼|喉|"
    r"甲状腺|颈部|淋巴结|肺|胸部|胸腔|纵隔|"
    r"心脏|心包|乳腺|乳房|肝|胆囊|胆管|胰|脾|肾|肾上腺|胃|肠|腹腔|腹膜|腹部|盆腔|子宫|宫颈|宫腔|附件|卵巢|输卵管|"
    r"膀胱|前列腺|精囊|椎体|脊柱|骨盆|髋|脉管|癌栓"
)
HISTORY_PATTERN = re.compile(r"既往|病史|曾于|入院|主诉")

# Attributes (surface term -> canonical key).
ATTRIBUTE_KEYS: dict[str, str] = {
    "软组织密度影": "soft_tissue",
    "软组织影": "soft_tissue",
    "软组织密度": "soft_tissue",
    "软组织肿块": "soft_tissue_mass",
    "异常密度影": "abnormal_density",
    "积液": "effusion",
    "液体密度影": "effusion",
    "液体密度": "effusion",
    "液性密度影": "effusion",
    "液性密度": "effusion",
    "液平": "air_fluid_level",
    "气液平": "air_fluid_level",
    "气液平面": "air_fluid_level",
    "液气平面": "air_fluid_level",
    "气泡": "bubbles",
    "骨质吸收": "bone_erosion",
    "骨质破坏": "bone_erosion",
    "骨质侵蚀": "bone_erosion",
    "骨质侵蚀性破坏": "bone_erosion",
    "骨质缺损": "bone_erosion",
    "吸收": "bone_erosion",
    "破坏": "bone_erosion",
    "侵蚀": "bone_erosion",
    "变钝": "bone_erosion",  # a blunted scutum ("盾板变钝") is the erosion of its sharp edge
    "骨质硬化": "sclerotic",
    "硬化型": "sclerotic",
    "硬化": "sclerotic",
    "气化良好": "pneumatized",
    "气化型": "pneumatized",
    "气化好": "pneumatized",
    "板障型": "diploic",
    "气化不良": "poorly_pneumatized",
    "气化差": "poorly_pneumatized",
    "膨胀性改变": "expansile",
    "膨胀性": "expansile",
    "膨胀": "expansile",
    "骨壁变薄": "bone_thinning",
    "骨质变薄": "bone_thinning",
    "变薄": "bone_thinning",
    "边缘光滑": "smooth_margin",
    "扩大": "widened",
    "增宽": "widened",
    "增厚": "thickening",
    "黏膜增厚": "mucosal_thickening",
    "粘膜增厚": "mucosal_thickening",
    "通畅": "patent",
    "完整": "intact",
    "清晰": "clear",
    "清楚": "clear",
    "密度增高": "increased_density",
    "混浊": "opacified",
    "充填": "filling",
    "填充": "filling",
    "内陷": "retraction",
    "穿孔": "perforation",
    "狭窄": "stenosis",
    "毛糙": "irregular_margin",
    "异常": "abnormality",
}
# Attributes that describe a lesion (used to check that a left lesion never reaches the right text).
LESION_ATTRIBUTE_KEYS = frozenset(
    {
        "soft_tissue", "soft_tissue_mass", "abnormal_density", "effusion", "air_fluid_level", "bubbles",
        "bone_erosion", "expansile", "bone_thinning", "widened", "thickening", "mucosal_thickening",
        "increased_density", "opacified", "filling",
    }
)
# Attributes that say an ear's spaces hold fluid. Fluid is not a structure of one region: it fills the tympanic
# cavity, the antrum and the mastoid together, whichever of them a report names, and it is told from soft tissue by
# density alone.
FLUID_ATTRIBUTE_KEYS = ("effusion", "air_fluid_level", "bubbles")

# --------------------------------------------------------------------------------------------------
# Disease names -> ear code (1 CSOM, 2 cholesteatoma, 3 SOM, 4 cholesterol granuloma, 5 normal,
# 6 other). Plain 中耳炎 / 乳突炎 are filed under code 1: the taxonomy has no acute otitis class and
# secretory otitis is always named as such.
DISEASE_CODES: dict[str, int] = {
    "慢性化脓性中耳炎": 1, "慢性化脓性中耳乳突炎": 1, "化脓性中耳炎": 1, "慢性中耳炎": 1, "慢性中耳乳突炎": 1,
    "中耳乳突炎": 1, "中耳炎": 1, "乳突炎": 1,
    "中耳胆脂瘤": 2, "胆脂瘤": 2, "胆脂瘤型中耳炎": 2, "胆脂瘤型中耳乳突炎": 2,
    "分泌性中耳炎": 3, "分泌性中耳乳突炎": 3, "渗出性中耳炎": 3, "卡他性中耳炎": 3, "浆液性中耳炎": 3,
    "中耳积液": 3, "中耳乳突积液": 3,
    "胆固醇肉芽肿": 4, "胆固醇性肉芽肿": 4,
    "面神经鞘瘤": 6, "面神经瘤": 6, "神经鞘瘤": 6, "颈静脉球瘤": 6, "鼓室球瘤": 6, "球瘤": 6,
    "副神经节瘤": 6, "肿瘤": 6, "肿瘤性病变": 6, "占位": 6, "占位性病变": 6, "肿物": 6, "新生物": 6,
    "血管瘤": 6, "脑膜瘤": 6,
}
# When one side has several diseases the more specific (rarer) one wins.
CODE_PRIORITY: tuple[int, ...] = (2, 4, 6, 1, 3, 5)


def check_disease_codes(disease_codes=None, code_priority=None, class_codes=None, code_by_name=None,
                        normal_code: int | None = None) -> None:
    """Check the disease lexicon against the class table (`ear_classes.py`); raise `ValueError` naming the term.

    Every term must map to a class code, a class's own Chinese name (or alias) must map to that class, and
    `CODE_PRIORITY` must rank every code the parser can produce (the lexicon's codes and the normal code) once.
    Arguments default to this module's tables and the class table.
    """
    disease_codes = DISEASE_CODES if disease_codes is None else disease_codes
    code_priority = CODE_PRIORITY if code_priority is None else tuple(code_priority)
    class_codes = CLASS_CODES if class_codes is None else tuple(class_codes)
    code_by_name = CLASS_CODE_BY_NAME_ZH if code_by_name is None else code_by_name
    normal_code = NORMAL_CODE if normal_code is None else normal_code
    unknown = {term: code for term, code in disease_codes.items() if code not in class_codes}
    if unknown:
        raise ValueError(f"report_lexicon.DISEASE_CODES: {unknown} map to codes that are not classes "
                         f"{list(class_codes)}")
    contradicting = {term: code for term, code in disease_codes.items()
                     if term in code_by_name and code_by_name[term] != code}
    if contradicting:
        raise ValueError(f"report_lexicon.DISEASE_CODES: {contradicting} contradict the class table, where these "
                         f"names have codes {({t: code_by_name[t] for t in contradicting})}")
    if len(set(code_priority)) != len(code_priority) or not set(code_priority) <= set(class_codes):
        raise ValueError(f"report_lexicon.CODE_PRIORITY {list(code_priority)} must list class codes "
                         f"{list(class_codes)} at most once each")
    unranked = sorted({*disease_codes.values(), normal_code} - set(code_priority))
    if unranked:
        raise ValueError(f"report_lexicon.CODE_PRIORITY {list(code_priority)} does not rank code(s) {unranked}")


check_disease_codes()


def longest_first_pattern(terms) -> re.Pattern[str]:
    """Compile an alternation of `terms` that prefers the longest term at each position.

    Example:
        >>> longest_first_pattern(["鼓室", "上鼓室"]).findall("上鼓室")
        ['上鼓室']
    """
    ordered = sorted(set(terms), key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered))
