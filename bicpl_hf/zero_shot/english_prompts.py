# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""English prompts read into findings, as the Chinese report parser reads a Chinese one: a user who describes a class
in English ("fluid in the middle ear with an air-fluid level, no bone erosion") has it scored from the same
(entity, attribute) findings as "鼓室积液，可见气液平面，未见骨质破坏" (`finding_scores.prompt_findings`).

A prompt is cut into clauses at punctuation and at "with", "but", "without"; in each clause an attribute phrase
(`ATTRIBUTE_PHRASES`) is a finding of every anatomical entity the clause names (`ENTITY_PHRASES`; "fluid in the middle
ear and mastoid" is both), else of the last entity named before it, else of the middle ear; a negation word before it
in its clause ("no", "not", "without", "free of", "absent") negates it. Disease names
are read from the knowledge base's English names (`Disease.names_en`) and masked first, so "otitis media with
effusion" is a name, not a finding. Entity keys and attribute keys are the report parser's, so every finding is one
the region head can score.

Example:
    >>> sorted(english_findings("Serous otitis media: fluid in the middle ear with an air-fluid level, no erosion"))
    [('middle_ear', 'air_fluid_level'), ('middle_ear', 'effusion')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# English phrase -> the report parser's entity key (`processing.report_lexicon.ENTITY_KEYS` values).
ENTITY_PHRASES: dict[str, str] = {
    "middle ear": "middle_ear", "middle-ear": "middle_ear", "middle ear cavity": "middle_ear",
    "tympanic cavity": "tympanic_cavity", "tympanum": "tympanic_cavity", "mesotympanum": "tympanic_cavity",
    "hypotympanum": "tympanic_cavity",
    "attic": "epitympanum", "epitympanum": "epitympanum", "epitympanic recess": "epitympanum",
    "scutum": "scutum", "tegmen": "tegmen", "tegmen tympani": "tegmen",
    "ossicles": "ossicles", "ossicle": "ossicles", "ossicular chain": "ossicles", "malleus": "ossicles",
    "incus": "ossicles", "stapes": "ossicles",
    "aditus": "aditus", "aditus ad antrum": "aditus", "antrum": "antrum", "mastoid antrum": "antrum",
    "mastoid": "mastoid", "mastoid air cells": "mastoid", "mastoid cells": "mastoid", "air cells": "mastoid",
    "facial canal": "facial_canal", "facial nerve canal": "facial_canal", "fallopian canal": "facial_canal",
    "petrous apex": "petrous_apex", "jugular foramen": "jugular_foramen", "jugular bulb": "jugular_foramen",
    "external auditory canal": "external_canal", "external ear canal": "external_canal", "ear canal": "external_canal",
    "tympanic membrane": "tympanic_membrane", "eardrum": "tympanic_membrane", "ear drum": "tympanic_membrane",
}
# English phrase -> the report parser's attribute key (`processing.report_lexicon.ATTRIBUTE_KEYS` values).
ATTRIBUTE_PHRASES: dict[str, str] = {
    "effusion": "effusion", "fluid": "effusion", "fluid collection": "effusion", "fluid density": "effusion",
    "air-fluid level": "air_fluid_level", "air fluid level": "air_fluid_level", "air-fluid levels": "air_fluid_level",
    "fluid level": "air_fluid_level", "meniscus": "air_fluid_level",
    "bubbles": "bubbles", "bubble": "bubbles", "air bubbles": "bubbles",
    "soft tissue": "soft_tissue", "soft-tissue": "soft_tissue", "soft tissue density": "soft_tissue",
    "soft-tissue density": "soft_tissue", "soft tissue opacity": "soft_tissue",
    "soft tissue mass": "soft_tissue_mass", "soft-tissue mass": "soft_tissue_mass", "mass": "soft_tissue_mass",
    "erosion": "bone_erosion", "eroded": "bone_erosion", "eroding": "bone_erosion", "erodes": "bone_erosion",
    "bone erosion": "bone_erosion", "bony erosion": "bone_erosion", "osseous erosion": "bone_erosion",
    "destruction": "bone_erosion", "destroyed": "bone_erosion", "bone destruction": "bone_erosion",
    "expansile": "expansile", "expansion": "expansile", "expanded": "expansile", "expanding": "expansile",
    "thinning": "bone_thinning", "thinned": "bone_thinning", "bone thinning": "bone_thinning",
    "widened": "widened", "widening": "widened", "enlarged": "widened", "enlargement": "widened",
    "mucosal thickening": "mucosal_thickening", "thickening": "thickening", "thickened": "thickening",
    "opacification": "opacified", "opacified": "opacified", "opacity": "opacified",
    "increased density": "increased_density", "filling": "filling", "filled": "filling",
    "sclerosis": "sclerotic", "sclerotic": "sclerotic",
    "poorly pneumatized": "poorly_pneumatized", "poorly pneumatised": "poorly_pneumatized",
    "underpneumatized": "poorly_pneumatized",
    "smooth margins": "smooth_margin", "smooth margin": "smooth_margin", "smoothly marginated": "smooth_margin",
    "well-defined": "smooth_margin", "irregular margins": "irregular_margin", "irregular margin": "irregular_margin",
    "perforation": "perforation", "perforated": "perforation", "retraction": "retraction", "retracted": "retraction",
    "stenosis": "stenosis", "narrowing": "stenosis",
}
NEGATION_WORDS = ("no", "not", "without", "free of", "absent", "absence of", "neither", "nor")
DEFAULT_ENTITY = "middle_ear"  # a prompt about an ear's disease that names no structure speaks of its middle ear
_CLAUSE_BREAK = re.compile(r"[,.;:()\n]|\b(?:with|but|while|whereas)\b|(?=\bwithout\b)")
_LATIN = re.compile(r"[A-Za-z]")
_CHINESE = re.compile("[\u4e00-\u9fff]")


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """Whole-word, longest-first alternation of `phrases` (lower case), compiled once per set of phrases (the knowledge
    base's names are the same for every prompt)."""
    return _compiled_phrases(tuple(sorted({p.lower() for p in phrases if p}, key=lambda p: (-len(p), p))))


@lru_cache(maxsize=32)
def _compiled_phrases(ordered: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z])(?:" + "|".join(re.escape(p) for p in ordered) + r")(?![a-z])")


_ENTITIES = _phrase_pattern(ENTITY_PHRASES)
_ATTRIBUTES = _phrase_pattern(ATTRIBUTE_PHRASES)
_NEGATION = _phrase_pattern(NEGATION_WORDS)


def is_english(prompt: str) -> bool:
    """Whether `prompt` is written in Latin letters (no Chinese character)."""
    return bool(_LATIN.search(prompt)) and not _CHINESE.search(prompt)


def english_disease_names(prompt: str, names: Iterable[str]) -> list[tuple[str, bool]]:
    """`(name, negated)` for each knowledge-base English name (lower case) in `prompt` as whole words, longest first,
    without overlaps (so "external auditory canal cholesteatoma" is not also "cholesteatoma"); negated when a negation
    word precedes it in its clause ("no cholesteatoma")."""
    names = [n for n in names if n]
    if not names:
        return []
    pattern, mentions = _phrase_pattern(names), []
    for clause in _CLAUSE_BREAK.split(prompt.lower()):
        negations = [m.start() for m in _NEGATION.finditer(clause or "")]
        mentions += [(m.group(0), any(n < m.start() for n in negations)) for m in pattern.finditer(clause or "")]
    return mentions


def english_findings(prompt: str, disease_names: Iterable[str] = ()) -> set[tuple[str, str]]:
    """The non-negated (entity key, attribute key) findings an English `prompt` states (`disease_names`, lower case,
    are masked first so a name is never read as findings)."""
    text = prompt.lower()
    names = [n for n in disease_names if n]
    if names:
        text = _phrase_pattern(names).sub(" ", text)
    found: set[tuple[str, str]] = set()
    entity = None
    for clause in _CLAUSE_BREAK.split(text):
        if not clause or not clause.strip():
            continue
        entities = [(m.start(), ENTITY_PHRASES[m.group(0)]) for m in _ENTITIES.finditer(clause)]
        negations = [m.start() for m in _NEGATION.finditer(clause)]
        for match in _ATTRIBUTES.finditer(_ENTITIES.sub(lambda m: " " * len(m.group(0)), clause)):
            attribute = ATTRIBUTE_PHRASES[match.group(0)]
            own = [key for _, key in entities] or [entity or DEFAULT_ENTITY]
            if not any(start < match.start() for start in negations):
                found.update((key, attribute) for key in own)
        if entities:
            entity = entities[-1][1]
    return found


__all__ = ["ATTRIBUTE_PHRASES", "DEFAULT_ENTITY", "ENTITY_PHRASES", "english_disease_names", "english_findings",
           "is_english"]
