"""English prompts read into the report parser's findings, and English disease names read in the knowledge base: a
user who writes in English is scored from the same findings as one who writes in Chinese."""

from __future__ import annotations

import pytest

from bicpl_hf.knowledge import load_knowledge_base
from bicpl_hf.knowledge.knowledge_base import class_prompts
from bicpl_hf.zero_shot.english_prompts import english_disease_names, english_findings, is_english
from bicpl_hf.zero_shot.finding_scores import class_findings_of, prompt_findings


@pytest.fixture(scope="module")
def kb():
    return load_knowledge_base()


@pytest.mark.parametrize("prompt, expected", [
    ("fluid in the middle ear with an air-fluid level", {("middle_ear", "effusion"), ("middle_ear", "air_fluid_level")}),
    ("Effusion.", {("middle_ear", "effusion")}),  # no structure named: the middle ear
    ("soft tissue in the attic; the scutum is eroded", {("epitympanum", "soft_tissue"), ("scutum", "bone_erosion")}),
    ("fluid in the middle ear and mastoid without bone erosion", {("middle_ear", "effusion"), ("mastoid", "effusion")}),
    ("no effusion, ossicles intact", set()),
    ("mastoid air cells: sclerosis; small air bubbles", {("mastoid", "sclerotic"), ("mastoid", "bubbles")}),
    ("expansile lesion of the petrous apex with smooth margins",
     {("petrous_apex", "expansile"), ("petrous_apex", "smooth_margin")}),
])
def test_english_findings_read_entity_attribute_and_negation(prompt, expected):
    assert english_findings(prompt) == expected


def test_a_disease_name_is_masked_before_findings_and_read_in_the_knowledge_base(kb):
    som = prompt_findings(class_prompts(kb, [3])["3"])
    assert english_findings("otitis media with effusion") == {("middle_ear", "effusion")}  # no knowledge base: prose
    assert prompt_findings(["otitis media with effusion"], kb) == som  # its English synonym: the KB's description
    assert prompt_findings(["Glue ear, probably"], kb) == som
    # stated findings win over the name, as in Chinese
    assert prompt_findings(["serous otitis media: fluid in the middle ear"], kb) == {("middle_ear", "effusion")}
    # a negated name, two names, or a catch-all word name no disease
    assert prompt_findings(["no cholesteatoma"], kb) == set()
    assert prompt_findings(["cholesteatoma or cholesterol granuloma"], kb) == set()
    assert prompt_findings(["some other disease"], kb) == set()
    # the longest name wins: an ear canal cholesteatoma is not a middle-ear one
    assert [n for n, _ in english_disease_names("External auditory canal cholesteatoma", ["cholesteatoma",
            "external auditory canal cholesteatoma"])] == ["external auditory canal cholesteatoma"]
    table = class_findings_of({2: ["acquired cholesteatoma"], 4: ["a cholesterol cyst of the petrous apex"]}, kb)
    assert table["2"] == [list(f) for f in sorted(prompt_findings(class_prompts(kb, [2])["2"]))]
    # a name and a site but no finding word: the knowledge base's description (both of granuloma's sites)
    assert table["4"] == [list(f) for f in sorted(prompt_findings(class_prompts(kb, [4])["4"]))]


def test_chinese_prompts_and_the_knowledge_bases_prompts_are_read_as_before(kb):
    assert not is_english("上鼓室软组织影 (attic)") and is_english("attic soft tissue")
    assert prompt_findings(["上鼓室软组织影，盾板骨质破坏"], kb) == {("epitympanum", "soft_tissue"), ("scutum", "bone_erosion")}
    assert kb.get("OME").code == 3 and kb.get("Acquired Cholesteatoma").code == 2
    for code in (1, 2, 3, 4):
        assert all(not is_english(p) for p in class_prompts(kb, [code])[str(code)])  # English names stay out of them
