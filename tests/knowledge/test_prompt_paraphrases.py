"""The prompt paraphrase set (DESIGN.md §7): >= 10 per class, every kind, and written in other words than the
knowledge base's prompts and the synthetic report generator."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bicpl_hf.knowledge import class_prompts, load_knowledge_base
from bicpl_hf.knowledge.paraphrases import PARAPHRASE_KINDS, load_prompt_paraphrases

CODES = [1, 2, 3, 4, 5, 6]
_CLAUSE_SPLIT = re.compile(r"[，。；：、,.;:！？!?\s]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE_SPLIT.split(text) if len(c) >= 4]


def test_every_class_has_at_least_ten_paraphrases_of_every_kind():
    paraphrases = load_prompt_paraphrases()
    assert sorted(paraphrases) == CODES
    for code, items in paraphrases.items():
        assert len(items) >= 12, code
        assert {item["kind"] for item in items} == set(PARAPHRASE_KINDS), code
        texts = [item["text"] for item in items]
        assert len(set(texts)) == len(texts), f"class {code} repeats a paraphrase"
        for item in items:
            has_cjk = _CJK.search(item["text"]) is not None
            assert has_cjk == (item["kind"] != "english"), item
        assert any("考虑" in t and "可能" in t for t in texts), f"class {code} has no 考虑…可能 paraphrase"


def test_no_paraphrase_clause_is_a_knowledge_base_clause():
    # A disease name is the knowledge base's word by definition; every other kind must be written in other words.
    kb_text = "\n".join(p for prompts in class_prompts(load_knowledge_base(), CODES).values() for p in prompts)
    copied = [(code, clause) for code, items in load_prompt_paraphrases().items() for item in items
              if item["kind"] != "name" for clause in _clauses(item["text"]) if clause in kb_text]
    assert copied == []


def test_no_paraphrase_clause_is_a_generator_clause():
    # Every Chinese text of the synthetic report generator (its templates are string literals of bicpl_hf.synthetic).
    import bicpl_hf.synthetic

    literals = []
    for module in Path(bicpl_hf.synthetic.__file__).parent.glob("*.py"):
        literals += [node.value for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str) and _CJK.search(node.value)]
    generated = "\n".join(literals)
    copied = [(code, clause) for code, items in load_prompt_paraphrases().items() for item in items
              if item["kind"] != "name" for clause in _clauses(item["text"])
              if _CJK.search(clause) and clause in generated]
    assert copied == []


def test_a_malformed_paraphrase_file_is_named(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"classes": {"2": [{"text": "胆脂瘤", "kind": "slang"}]}}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"p\.json: class 2 paraphrase 0 has kind 'slang'"):
        load_prompt_paraphrases(path)
