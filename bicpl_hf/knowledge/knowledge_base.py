# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""The otology knowledge base: ear diseases described over a fixed radiological attribute taxonomy.

The package's "knowledge graph" (Bi-CPL proposal: rare-class prototypes synthesised from medical
knowledge) is a YAML file shipped with the package, `otology_kb.yaml`. Each disease has names,
synonyms and a `DiseaseProfile` over the taxonomy below; from a profile, `prompts_for` writes prompt
ensembles in the radiologists' phrasing (外耳道 → 鼓膜/鼓室 → 听骨链 → 乳突 → 内耳及周围, then
检查结论：<name>), which become text prototypes. A user adds a rare disease with one YAML entry or one
`disease_from_profile` call and diagnoses it zero-shot with `add_disease_to_model`, without retraining.

Taxonomy (`TAXONOMY`; fixed, the knowledge bank and the validation rely on it):

- `location`: subset of eac, tympanic_cavity, epitympanum, mastoid, petrous_apex, inner_ear,
  facial_canal, jugular_foramen (primary site first; empty for a normal ear)
- `density`: air | fluid | soft_tissue | bone
- `bone_change`: none | sclerosis | thinning_expansion | erosion_destruction
- `margins`: smooth | irregular | n/a;   `expansion`: bool;   `ossicles`: intact | eroded | n/a
- `mastoid_pneumatisation`: pneumatized | diploic | sclerotic | any;   `air_fluid_level`: bool

Example:
    >>> kb = load_knowledge_base()
    >>> kb.get(2).name_en, kb.get("胆脂瘤").code
    ('cholesteatoma', 2)
    >>> prompts_for(kb.get(4), n=2)[0].endswith("检查结论：胆固醇肉芽肿。")
    True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_KNOWLEDGE_BASE = Path(__file__).with_name("otology_kb.yaml")
KNOWLEDGE_BASE_VERSION = 1

LOCATIONS = (
    "eac", "tympanic_cavity", "epitympanum", "mastoid", "petrous_apex", "inner_ear", "facial_canal", "jugular_foramen",
)
TAXONOMY: dict[str, tuple] = {
    "location": LOCATIONS,
    "density": ("air", "fluid", "soft_tissue", "bone"),
    "bone_change": ("none", "sclerosis", "thinning_expansion", "erosion_destruction"),
    "margins": ("smooth", "irregular", "n/a"),
    "expansion": (True, False),
    "ossicles": ("intact", "eroded", "n/a"),
    "mastoid_pneumatisation": ("pneumatized", "diploic", "sclerotic", "any"),
    "air_fluid_level": (True, False),
}

# One short phrase per informative (attribute, value) of the taxonomy; "n/a", "any" and False say
# nothing about an ear and have none. These initialise the cross-modal knowledge bank (BrgSA CMKI).
ATTRIBUTE_TEXTS: tuple[tuple[str, object, str], ...] = (
    ("location", "eac", "外耳道内异常密度影"),
    ("location", "tympanic_cavity", "鼓室内异常密度影"),
    ("location", "epitympanum", "上鼓室软组织密度影"),
    ("location", "mastoid", "乳突气房内异常密度影"),
    ("location", "petrous_apex", "岩尖区异常密度影"),
    ("location", "inner_ear", "内耳结构异常"),
    ("location", "facial_canal", "面神经管区异常密度影"),
    ("location", "jugular_foramen", "颈静脉孔区异常密度影"),
    ("density", "air", "含气良好"),
    ("density", "fluid", "液体密度影"),
    ("density", "soft_tissue", "软组织密度影"),
    ("density", "bone", "骨性密度影"),
    ("bone_change", "none", "骨质结构完整"),
    ("bone_change", "sclerosis", "骨质硬化"),
    ("bone_change", "thinning_expansion", "骨壁膨胀变薄但完整"),
    ("bone_change", "erosion_destruction", "骨质侵蚀性破坏"),
    ("margins", "smooth", "边缘光滑"),
    ("margins", "irregular", "边缘不规则"),
    ("expansion", True, "膨胀性改变"),
    ("ossicles", "intact", "听骨链完整"),
    ("ossicles", "eroded", "听小骨骨质破坏"),
    ("mastoid_pneumatisation", "pneumatized", "乳突气化良好"),
    ("mastoid_pneumatisation", "diploic", "乳突呈板障型"),
    ("mastoid_pneumatisation", "sclerotic", "乳突呈硬化型"),
    ("air_fluid_level", True, "气液平面"),
)
MAX_PROMPTS = 8


class KnowledgeBaseError(ValueError):
    """An invalid knowledge-base entry; the message names the file, the entry and the field."""


def _allowed(field: str) -> str:
    return ", ".join("true" if v is True else "false" if v is False else str(v) for v in TAXONOMY[field])


@dataclass(frozen=True)
class DiseaseProfile:
    """Where a disease is and what it looks like on CT, over the fixed `TAXONOMY`.

    Example:
        >>> DiseaseProfile.from_mapping({"location": ["tympanic_cavity"], "density": "fluid", "bone_change": "none",
        ...     "margins": "n/a", "expansion": False, "ossicles": "intact", "mastoid_pneumatisation": "any",
        ...     "air_fluid_level": True}).location
        ('tympanic_cavity',)
    """

    location: tuple[str, ...]
    density: str
    bone_change: str
    margins: str
    expansion: bool
    ossicles: str
    mastoid_pneumatisation: str
    air_fluid_level: bool

    @classmethod
    def from_mapping(cls, data: object, where: str = "profile") -> DiseaseProfile:
        """Validate a mapping of the eight taxonomy fields; errors name `where`, the field and the allowed values."""
        if isinstance(data, DiseaseProfile):
            return data
        if not isinstance(data, Mapping):
            raise KnowledgeBaseError(f"{where}: profile must be a mapping of {list(TAXONOMY)}, got {data!r}")
        missing = [f for f in TAXONOMY if f not in data]
        unknown = [str(f) for f in data if f not in TAXONOMY]
        if missing or unknown:
            raise KnowledgeBaseError(f"{where}: profile is missing field(s) {missing} / has unknown field(s) "
                                     f"{unknown}; expected exactly {list(TAXONOMY)}")
        location = data["location"]
        if isinstance(location, str) or not isinstance(location, Sequence):
            raise KnowledgeBaseError(f"{where}: profile.location must be a list (subset of {_allowed('location')}), "
                                     f"got {location!r}")
        for site in location:
            if site not in LOCATIONS:
                raise KnowledgeBaseError(f"{where}: profile.location has {site!r}; allowed values: "
                                         f"{_allowed('location')}")
        if len(set(location)) != len(location):
            raise KnowledgeBaseError(f"{where}: profile.location lists a site twice: {list(location)}")
        values = {}
        for field in TAXONOMY:
            if field == "location":
                continue
            value = data[field]
            # bool is checked by identity so that 1/0 or "yes" never pass for true/false (and True never for a str)
            if not any(value is v if isinstance(v, bool) else (isinstance(value, str) and value == v)
                       for v in TAXONOMY[field]):
                raise KnowledgeBaseError(f"{where}: profile.{field} is {value!r}; allowed values: {_allowed(field)}")
            values[field] = value
        return cls(location=tuple(location), **values)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["location"] = list(self.location)
        return data


@dataclass(frozen=True)
class Disease:
    """One knowledge-base entry.

    Attributes:
        name_zh / name_en: names; `name_zh` is the class name.
        code: ear label code of the hospital export, or None for a disease without its own code.
        profile: the `DiseaseProfile`.
        synonyms: other Chinese names.
        synonyms_en: other English names (read in a user's English prompt; never written into the Chinese prompts).
        impression_names: what follows 检查结论 in the prompts (defaults to `name_zh` + `synonyms`).
        key_findings: phrases the taxonomy cannot express (e.g. 前庭窗前缘骨质密度减低), added to the prompts.
        parent_code: for a code-less disease, the export code it is labelled under (e.g. 6 "other").
        lesion_sites: the sites of `profile.location` where the lesion itself may lie (its expansion, margins and bone
            change are described there), one per prompt in turn; default: the first location. A cholesterol
            granuloma is an expansile cyst of the petrous apex OR of the mastoid and middle ear.
    """

    name_zh: str
    name_en: str
    code: int | None
    profile: DiseaseProfile
    synonyms: tuple[str, ...] = ()
    impression_names: tuple[str, ...] = ()
    key_findings: tuple[str, ...] = ()
    parent_code: int | None = None
    lesion_sites: tuple[str, ...] = ()
    synonyms_en: tuple[str, ...] = ()

    @property
    def primary_sites(self) -> tuple[str, ...]:
        """Where the lesion itself is described: `lesion_sites`, else the first location (none: a normal ear)."""
        return self.lesion_sites or self.profile.location[:1]

    @property
    def names(self) -> tuple[str, ...]:
        """`name_zh` and the synonyms (what `KnowledgeBase.get` matches)."""
        return (self.name_zh, *self.synonyms)

    @property
    def names_en(self) -> tuple[str, ...]:
        """`name_en` and the English synonyms, lower case (`KnowledgeBase.get` matches them in any case)."""
        return tuple(name.lower() for name in (self.name_en, *self.synonyms_en))

    def to_dict(self) -> dict:
        return {"code": self.code, "parent_code": self.parent_code, "name_zh": self.name_zh, "name_en": self.name_en,
                "synonyms": list(self.synonyms), "impression_names": list(self.impression_names),
                "key_findings": list(self.key_findings), "profile": self.profile.to_dict(),
                **({"lesion_sites": list(self.lesion_sites)} if self.lesion_sites else {}),
                **({"synonyms_en": list(self.synonyms_en)} if self.synonyms_en else {})}


_ENTRY_FIELDS = ("code", "parent_code", "name_zh", "name_en", "synonyms", "synonyms_en", "impression_names",
                 "key_findings", "profile", "lesion_sites")
_REQUIRED_FIELDS = ("code", "name_zh", "name_en", "profile")


def _text(value: object, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeBaseError(f"{where}: {field} must be a non-empty string, got {value!r}")
    return value.strip()


def _texts(value: object, where: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise KnowledgeBaseError(f"{where}: {field} must be a list of strings, got {value!r}")
    return tuple(_text(v, where, f"{field}[{i}]") for i, v in enumerate(value))


def _code(value: object, where: str, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KnowledgeBaseError(f"{where}: {field} must be a non-negative integer or null, got {value!r}")
    return value


def disease_from_mapping(data: object, where: str = "entry") -> Disease:
    """Validate one YAML entry into a `Disease`; errors name `where` (file and entry) and the field."""
    if not isinstance(data, Mapping):
        raise KnowledgeBaseError(f"{where}: an entry must be a mapping with fields {list(_ENTRY_FIELDS)}, got {data!r}")
    if isinstance(data.get("name_zh"), str) and data["name_zh"].strip():
        where = f"{where} ({data['name_zh']!r})"
    unknown = [str(k) for k in data if k not in _ENTRY_FIELDS]
    missing = [k for k in _REQUIRED_FIELDS if k not in data]
    if unknown or missing:
        raise KnowledgeBaseError(f"{where}: unknown field(s) {unknown} / missing field(s) {missing}; "
                                 f"allowed fields: {list(_ENTRY_FIELDS)} (required: {list(_REQUIRED_FIELDS)})")
    name_zh = _text(data["name_zh"], where, "name_zh")
    synonyms = _texts(data.get("synonyms"), where, "synonyms")
    impression_names = _texts(data.get("impression_names"), where, "impression_names") or (name_zh, *synonyms)
    code, parent_code = _code(data["code"], where, "code"), _code(data.get("parent_code"), where, "parent_code")
    if code is not None and parent_code is not None:
        raise KnowledgeBaseError(f"{where}: parent_code is only for an entry whose code is null (code is {code})")
    profile = DiseaseProfile.from_mapping(data["profile"], where)
    lesion_sites = _texts(data.get("lesion_sites"), where, "lesion_sites")
    outside = [site for site in lesion_sites if site not in profile.location]
    if outside or len(set(lesion_sites)) != len(lesion_sites):
        raise KnowledgeBaseError(f"{where}: lesion_sites must be distinct sites of profile.location "
                                 f"{list(profile.location)}, got {list(lesion_sites)}")
    return Disease(
        name_zh=name_zh,
        name_en=_text(data["name_en"], where, "name_en"),
        code=code,
        profile=profile,
        synonyms=synonyms,
        impression_names=impression_names,
        key_findings=_texts(data.get("key_findings"), where, "key_findings"),
        parent_code=parent_code,
        lesion_sites=lesion_sites,
        synonyms_en=_texts(data.get("synonyms_en"), where, "synonyms_en"),
    )


def disease_from_profile(
    name_zh: str,
    profile: Mapping | DiseaseProfile,
    code: int | None = None,
    *,
    name_en: str | None = None,
    synonyms: Sequence[str] = (),
    synonyms_en: Sequence[str] = (),
    key_findings: Sequence[str] = (),
    impression_names: Sequence[str] | None = None,
    parent_code: int | None = None,
    lesion_sites: Sequence[str] = (),
) -> Disease:
    """Describe a (rare) disease by its attribute profile; validated like a knowledge-base entry (`lesion_sites`: the
    sites of `profile["location"]` the lesion may lie at, one per prompt in turn).

    Example:
        >>> d = disease_from_profile("岩尖胆脂瘤", {"location": ["petrous_apex"], "density": "soft_tissue",
        ...     "bone_change": "erosion_destruction", "margins": "smooth", "expansion": True, "ossicles": "n/a",
        ...     "mastoid_pneumatisation": "any", "air_fluid_level": False}, name_en="petrous apex cholesteatoma")
        >>> d.code, d.profile.bone_change
        (None, 'erosion_destruction')
    """
    entry = {"code": code, "parent_code": parent_code, "name_zh": name_zh, "name_en": name_en or name_zh,
             "synonyms": list(synonyms), "synonyms_en": list(synonyms_en), "key_findings": list(key_findings),
             "lesion_sites": list(lesion_sites),
             "profile": profile.to_dict() if isinstance(profile, DiseaseProfile) else profile}
    if impression_names is not None:
        entry["impression_names"] = list(impression_names)
    return disease_from_mapping(entry, where=f"disease_from_profile({name_zh!r})")


class KnowledgeBase:
    """The diseases of a knowledge base, looked up by code or by any of their names.

    Example:
        >>> kb = load_knowledge_base()
        >>> [d.code for d in kb][:6]
        [1, 2, 3, 4, 5, 6]
    """

    def __init__(self, diseases: Sequence[Disease] = (), source: str = "knowledge base") -> None:
        self.source = source
        self._diseases: list[Disease] = []
        for disease in diseases:
            self.add(disease)

    def __iter__(self) -> Iterator[Disease]:
        return iter(self._diseases)

    def __len__(self) -> int:
        return len(self._diseases)

    def __contains__(self, key: object) -> bool:
        try:
            self.get(key)  # type: ignore[arg-type]
        except KeyError:
            return False
        return True

    @property
    def codes(self) -> list[int]:
        """Codes of the entries that have one, in file order."""
        return [d.code for d in self._diseases if d.code is not None]

    def get(self, key: int | str) -> Disease:
        """The disease with this ear code (int, or digits as in `config.class_prompts` keys) or this name/synonym.

        Raises:
            KeyError: naming the key and listing the known codes and names.
        """
        if isinstance(key, str):
            key = int(key.strip()) if key.strip().isdigit() else key.strip()
        for disease in self._diseases:
            if isinstance(key, int) and not isinstance(key, bool):
                if disease.code == key:
                    return disease
            elif isinstance(key, str) and (key in disease.names or key.lower() in disease.names_en):
                return disease
        known = ", ".join(f"{d.code}:{d.name_zh}" if d.code is not None else d.name_zh for d in self._diseases)
        raise KeyError(f"{self.source} has no disease {key!r}; known: {known}")

    def add(self, disease: Disease, *, where: str | None = None) -> Disease:
        """Add an entry; raises `KnowledgeBaseError` when its code or one of its names is already taken.

        `where` names the entry in the error (default: "<source>: entry '<name_zh>'").
        """
        if not isinstance(disease, Disease):
            raise TypeError(f"KnowledgeBase.add expects a Disease (see disease_from_profile), "
                            f"got {type(disease).__name__}")
        where = where or f"{self.source}: entry {disease.name_zh!r}"
        for other in self._diseases:
            if disease.code is not None and disease.code == other.code:
                raise KnowledgeBaseError(f"{where}: code {disease.code} is already used by {other.name_zh!r}")
            shared = sorted(set(disease.names) & set(other.names)) or sorted(set(disease.names_en) & set(other.names_en))
            if shared:
                raise KnowledgeBaseError(f"{where}: name(s) {shared} already belong to {other.name_zh!r} "
                                         f"(names and synonyms must be unique)")
        self._diseases.append(disease)
        return disease

    def to_dict(self) -> dict:
        return {"version": KNOWLEDGE_BASE_VERSION, "diseases": [d.to_dict() for d in self._diseases]}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the knowledge base as YAML that `load_knowledge_base(path)` reads back."""
        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path


def load_knowledge_base(path: str | os.PathLike | None = None) -> KnowledgeBase:
    """Read and validate a knowledge-base YAML file (default: the package's `otology_kb.yaml`).

    Raises:
        KnowledgeBaseError: a malformed file or entry; the message names the file, the entry (index and
            name) and the field, and lists the allowed values.

    Example:
        >>> len(load_knowledge_base()) >= 12
        True
    """
    path = Path(path) if path is not None else DEFAULT_KNOWLEDGE_BASE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise KnowledgeBaseError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(data, Mapping) or not isinstance(data.get("diseases"), list):
        raise KnowledgeBaseError(f"{path}: expected a mapping with 'version: {KNOWLEDGE_BASE_VERSION}' and a "
                                 f"'diseases' list")
    if data.get("version") != KNOWLEDGE_BASE_VERSION:
        raise KnowledgeBaseError(f"{path}: version {data.get('version')!r} is not supported "
                                 f"(expected {KNOWLEDGE_BASE_VERSION})")
    knowledge_base = KnowledgeBase(source=str(path))
    for index, entry in enumerate(data["diseases"]):
        where = f"{path}: diseases[{index}]"
        disease = disease_from_mapping(entry, where=where)
        knowledge_base.add(disease, where=f"{where} ({disease.name_zh!r})")
    return knowledge_base


# --------------------------------------------------------------------------------------------------
# Prompt ensembles. Each phrase has two wordings; prompt i uses style i % 2 (full report / lesion-only)
# and, in region r (外耳道, 鼓室, 听骨链, 乳突, 内耳及周围), wording bit r of _WORDING_PATTERNS[i // 2], so
# the first pairs reword every region and later pairs mix the wordings.
_WORDING_PATTERNS = (0b00000, 0b11111, 0b01010, 0b10101, 0b00111, 0b11000, 0b01101, 0b10010)
_SITE_WORDS = {
    "eac": ("外耳道", "外耳道内"), "tympanic_cavity": ("鼓室", "中鼓室"), "epitympanum": ("上鼓室", "上鼓室及鼓窦入口区"),
    "mastoid": ("乳突气房", "乳突小房"), "petrous_apex": ("岩尖区", "岩尖"), "inner_ear": ("迷路", "耳蜗及前庭"),
    "facial_canal": ("面神经管", "面神经管膝部"), "jugular_foramen": ("颈静脉孔区", "颈静脉孔"),
}
_DENSITY_TEMPLATES = {
    "soft_tissue": ("{s}内见软组织密度影", "{s}见软组织影"), "fluid": ("{s}内见液体密度影", "{s}积液"),
    "bone": ("{s}见异常骨质密度影", "{s}骨质密度异常"), "air": ("{s}内见异常含气影", "{s}异常含气"),
}
_EXPANSION = {"epitympanum": ("上鼓室扩大", "上鼓室增宽"), "facial_canal": ("面神经管增宽", "面神经管扩大"),
              "jugular_foramen": ("颈静脉孔扩大", "颈静脉孔增宽"), "eac": ("外耳道扩大", "外耳道骨壁膨胀")}
_EXPANSION_DEFAULT = ("呈膨胀性改变", "呈膨胀性生长")
_MARGINS = {"smooth": ("边缘光滑", "边界清楚，边缘光滑"), "irregular": ("边缘毛糙", "边缘不规则、毛糙")}
_BONE_CHANGE = {
    "none": ("未见骨质破坏", "骨质结构完整"), "sclerosis": ("周围骨质硬化", "骨质硬化"),
    "thinning_expansion": ("邻近骨壁变薄但完整", "周围骨质变薄，未见骨质侵蚀性破坏"),
    "erosion_destruction": ("邻近骨质侵蚀性破坏", "周围骨质吸收破坏"),
}
_AIR_FLUID_LEVEL = ("可见气液平面", "内见液平")
_OSSICLES = {"intact": ("听骨链完整", "听小骨形态正常"), "eroded": ("听小骨骨质吸收破坏", "听骨链骨质破坏")}
_PNEUMATISATION = {"pneumatized": ("乳突气化良好", "乳突呈气化型"), "diploic": ("乳突呈板障型", "乳突呈板障型，气房减少"),
                   "sclerotic": ("乳突呈硬化型", "乳突气化差，骨质硬化")}
_CLEAR = {"eac": ("外耳道通畅", "外耳道未见狭窄"), "middle": ("鼓室清晰", "鼓室含气良好"),
          "inner": ("内耳结构未见明显异常", "耳蜗、前庭及半规管未见明显异常")}
# The radiologists' order: 外耳道 → 鼓膜/鼓室 → 听骨链 → 乳突 → 内耳及周围.
_REGION_SITES = {"eac": ("eac",), "middle": ("epitympanum", "tympanic_cavity"), "mastoid": ("mastoid",),
                 "inner": ("petrous_apex", "inner_ear", "facial_canal", "jugular_foramen")}


def _lesion_clauses(disease: Disease, site: str, pick, primary: str) -> list[str]:
    """Density at `site`; at the `primary` site also expansion, margins, bone change and an air–fluid level."""
    profile = disease.profile
    clauses = [pick(_DENSITY_TEMPLATES[profile.density]).format(s=pick(_SITE_WORDS[site]))]
    if site != primary:
        return clauses
    if profile.expansion:
        clauses.append(pick(_EXPANSION.get(site, _EXPANSION_DEFAULT)))
    if profile.margins in _MARGINS:
        clauses.append(pick(_MARGINS[profile.margins]))
    clauses.append(pick(_BONE_CHANGE[profile.bone_change]))
    if profile.air_fluid_level:
        clauses.append(pick(_AIR_FLUID_LEVEL))
    return clauses


def _prompt(disease: Disease, index: int) -> str:
    """Prompt `index`: a full report (even) or the lesion regions only (odd; a normal ear keeps its middle ear)."""
    profile, full = disease.profile, index % 2 == 0
    pattern = _WORDING_PATTERNS[(index // 2) % len(_WORDING_PATTERNS)]
    primary = disease.primary_sites[(index // 2) % len(disease.primary_sites)] if disease.primary_sites else None
    elsewhere = set(disease.lesion_sites) - {primary}  # the other sites the lesion may lie at: not this prompt's
    sentences: list[str] = []
    for region_index, region in enumerate(("eac", "middle", "ossicles", "mastoid", "inner")):
        pick = lambda options, bit=region_index: options[((pattern >> bit) & 1) % len(options)]  # noqa: E731
        if region == "ossicles":
            if profile.ossicles in _OSSICLES and (full or profile.ossicles == "eroded" or not profile.location):
                sentences.append(pick(_OSSICLES[profile.ossicles]))
            continue
        sites = [s for s in profile.location if s in _REGION_SITES[region] and s not in elsewhere]  # primary first
        clauses = [c for site in sites for c in _lesion_clauses(disease, site, pick, primary)]
        if region == "mastoid" and profile.mastoid_pneumatisation in _PNEUMATISATION:
            if full or sites or profile.mastoid_pneumatisation != "pneumatized" or not profile.location:
                clauses.insert(0, pick(_PNEUMATISATION[profile.mastoid_pneumatisation]))
        if not clauses and region in _CLEAR and (full or (region == "middle" and not profile.location)):
            clauses = [pick(_CLEAR[region])]
            if region == "middle" and not profile.location:
                clauses.append(pick(_BONE_CHANGE[profile.bone_change]))
        if clauses:
            sentences.append("，".join(clauses))
    if disease.key_findings:
        sentences.append(disease.key_findings[index % len(disease.key_findings)])
    names = disease.impression_names or (disease.name_zh,)
    name = names[index % len(names)]
    return "。".join(sentences) + f"。检查结论：{name}。"


def prompts_for(disease: Disease, n: int = 4) -> list[str]:
    """`n` distinct report-style prompts for `disease`, deterministic (the same call gives the same list).

    Each prompt describes the ear in the radiologists' order 外耳道 → 鼓膜/鼓室 → 听骨链 → 乳突 → 内耳及周围
    (even prompts: every region; odd prompts: the lesion regions only), rewords different regions from
    one prompt to the next, adds one of the disease's `key_findings`, and ends with 检查结论：<name>。
    cycling over the disease's impression names.

    Raises:
        ValueError: `n` outside 1..MAX_PROMPTS, or a profile too plain to give `n` distinct prompts.

    Example:
        >>> kb = load_knowledge_base()
        >>> prompts_for(kb.get(3), n=1)
        ['外耳道通畅。鼓室内见液体密度影，未见骨质破坏，可见气液平面。听骨链完整。乳突气化良好，乳突气房内见液体密度影。内耳结构未见明显异常。可见气泡。检查结论：分泌性中耳炎。']
    """
    if not isinstance(disease, Disease):
        raise TypeError(f"prompts_for expects a Disease, got {type(disease).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_PROMPTS:
        raise ValueError(f"prompts_for: n must be an integer in 1..{MAX_PROMPTS}, got {n!r}")
    prompts: list[str] = []
    for index in range(4 * MAX_PROMPTS):
        prompt = _prompt(disease, index)
        if prompt not in prompts:
            prompts.append(prompt)
        if len(prompts) == n:
            return prompts
    raise ValueError(f"prompts_for: the profile of {disease.name_zh!r} gives only {len(prompts)} distinct prompts "
                     f"(asked for {n}); add synonyms, impression_names or key_findings")


def class_prompts(kb: KnowledgeBase, codes: Sequence[int | str], n: int = 4) -> dict[str, list[str]]:
    """Prompt ensembles for `codes` in the `BiCPLConfig.class_prompts` format (keys are the codes as strings).

    Example:
        >>> prompts = class_prompts(load_knowledge_base(), [1, 2, 3, 4, 5, 6], n=2)
        >>> sorted(prompts), len(prompts["4"])
        (['1', '2', '3', '4', '5', '6'], 2)
    """
    return {str(code): prompts_for(kb.get(code), n) for code in codes}


def attribute_texts(kb: KnowledgeBase | None = None, *, include_key_findings: bool = False) -> list[str]:
    """One short Chinese phrase per informative (attribute, value) of the taxonomy, in `ATTRIBUTE_TEXTS` order.

    The list has a fixed length (25) that does not depend on `kb`; with `include_key_findings=True` the
    distinct `key_findings` of `kb`'s diseases follow, so a knowledge bank can also hold what the
    taxonomy cannot express.

    Example:
        >>> texts = attribute_texts()
        >>> len(texts), texts[2], "骨质侵蚀性破坏" in texts
        (25, '上鼓室软组织密度影', True)
    """
    texts = [phrase for _, _, phrase in ATTRIBUTE_TEXTS]
    if include_key_findings:
        if kb is None:
            raise ValueError("attribute_texts(include_key_findings=True) needs a knowledge base")
        for disease in kb:
            texts += [f for f in disease.key_findings if f not in texts]
    return texts


def add_disease_to_model(
    model,
    tokenizer,
    disease: Disease,
    bundle_directory: str | os.PathLike | None = None,
    *,
    code: int | None = None,
    n_prompts: int = 4,
):
    """Add `disease` to a `BiCPLModel` as a zero-shot class whose frozen prototype is the embedding of its prompts.

    Calls `bicpl_hf.zero_shot.prototypes.add_class_by_text` with `prompts_for(disease, n_prompts)`; the prototype
    matrix gains a row, `config.class_prompts` gains the prompts, and `prompts.json` +
    `prototypes.safetensors` in `bundle_directory` are rewritten when it is given.

    Args:
        code: the class code in the model; defaults to `disease.code`, else the next free code
            (one above the largest in `config.class_codes`).

    Returns:
        The model's new `PrototypeBundle`.

    Example:
        >>> kb = load_knowledge_base()
        >>> bundle = add_disease_to_model(model, tokenizer, kb.get("面神经鞘瘤"), "prototypes/")  # doctest: +SKIP
        >>> bundle.class_codes[-1], bundle.class_names[-1]  # doctest: +SKIP
        (7, '面神经鞘瘤')
    """
    from ..zero_shot.prototypes import add_class_by_text

    existing = [int(c) for c in model.config.class_codes]
    if code is None:
        code = disease.code if disease.code is not None else max(existing, default=0) + 1
    if code in existing:
        taken = model.config.class_names[existing.index(code)]
        raise ValueError(f"add_disease_to_model: code {code} of {disease.name_zh!r} is already the model's class "
                         f"{taken!r}; pass another `code=`")
    return add_class_by_text(model, tokenizer, code, disease.name_zh, prompts_for(disease, n_prompts),
                             name_en=disease.name_en, bundle_directory=bundle_directory)
