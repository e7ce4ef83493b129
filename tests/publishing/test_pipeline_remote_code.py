"""The zero-shot pipeline ships as remote code: in the REAL venv without bicpl_hf of `test_clean_venv` (built once per
session), a saved folder runs `pipeline("zero-shot-ear-diagnosis", model=folder, trust_remote_code=True)` with the
results of bicpl_hf's own pipeline, and the model card's python snippets run as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from huggingface_hub import ModelCard

# The session's clean venv, and the tiny model, processor and phantom of the hub tests (module fixtures).
from test_clean_venv import clean_python  # noqa: F401
from test_hub import char_tokenizer, model, phantom_path, processor  # noqa: F401
from transformers import pipeline

import bicpl_hf.zero_shot.pipeline as pipeline_module
from bicpl_hf.publishing.model_card import merge_model_card
from bicpl_hf.zero_shot import TASK, ZeroShotEarDiagnosisPipeline

pytestmark = pytest.mark.slow

# (name, pipeline arguments, prompt_style): knowledge-base names with a template, free-text prompts with a new class,
# and names composed into findings (the parser and the findings vocabulary run in the remote copy too).
CASES = [
    ("labels", {"candidate_labels": ["胆脂瘤", "cholesterol granuloma", "正常"], "hypothesis_template": "检查结论：{}。"},
     "report"),
    ("prompts", {"class_prompts": {2: ["上鼓室软组织影，听小骨骨质破坏。检查结论：中耳胆脂瘤。"],
                                   9: ["岩尖膨胀性囊性病变，边缘光滑。检查结论：岩尖胆固醇肉芽肿。"]},
                 "class_names": {9: "岩尖胆固醇肉芽肿"}}, "report"),
    ("composed", {"candidate_labels": ["胆脂瘤", "cholesterol granuloma", "正常"]}, "composed"),
]

REMOTE_SCRIPT = r"""
import json, sys
try:
    import bicpl_hf
    raise SystemExit(f"bicpl_hf is importable from {bicpl_hf.__file__}")
except ModuleNotFoundError:
    pass
from transformers import pipeline

folder, phantom, cases_file, snippets_file = sys.argv[1:]
diagnoser = pipeline("zero-shot-ear-diagnosis", model=folder, trust_remote_code=True)
results = {"module": type(diagnoser).__module__}
for name, kwargs, style in json.loads(open(cases_file, encoding="utf-8").read()):
    for key in ("class_prompts", "class_names"):  # JSON keys are strings; codes are ints
        if key in kwargs:
            kwargs[key] = {int(code): value for code, value in kwargs[key].items()}
    diagnoser.model.config.prompt_style = style
    result = diagnoser(phantom, **kwargs)
    results[name] = {**result.to_dict(), "map_mean": float(result.left.asymmetry_map.mean())}
print("RESULTS", json.dumps(results, ensure_ascii=False))
for snippet in json.loads(open(snippets_file, encoding="utf-8").read()):
    exec(compile(snippet, "<model card>", "exec"), {"__name__": "__main__"})
print("SNIPPETS-OK")
"""


def _summary(result) -> dict:
    return {**result.to_dict(), "map_mean": float(result.left.asymmetry_map.mean())}


def _assert_same(got: dict, want: dict, name: str) -> None:
    for side in ("left", "right"):
        probabilities = {int(code): p for code, p in got[side]["probabilities"].items()}
        assert probabilities == pytest.approx(want[side]["probabilities"], abs=1e-5), (name, side)
        assert (got[side]["top_code"], got[side]["top_name"]) == (want[side]["top_code"], want[side]["top_name"])
    assert got["map_mean"] == pytest.approx(want["map_mean"], abs=1e-5), name


@pytest.fixture(scope="module")
def saved_folder(model, processor, tmp_path_factory):  # noqa: F811 (fixtures from test_hub)
    folder = tmp_path_factory.mktemp("pipeline-remote") / "bicpl"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_saved_folder_declares_the_pipeline_and_no_hub_task(saved_folder, tmp_path):
    config = json.loads((saved_folder / "config.json").read_text(encoding="utf-8"))
    assert config["custom_pipelines"] == {TASK: {"impl": "pipeline.ZeroShotEarDiagnosisPipeline", "pt": ["AutoModel"],
                                                 "type": "multimodal"}}
    assert (saved_folder / "otology_kb.yaml").read_bytes() == pipeline_module.DEFAULT_KNOWLEDGE_BASE.read_bytes()
    # Flat copies: no import reaches outside the folder.
    for name in ("pipeline.py", "candidate_labels.py", "prompt_recipe.py", "finding_vocabulary.py", "knowledge_base.py"):
        assert not re.search(r"^\s*from\s+\.\.", (saved_folder / name).read_text(encoding="utf-8"), re.M), name
    assert ModelCard.load(saved_folder / "README.md").data.pipeline_tag is None
    # The pipeline's own save writes the same repository (transformers' copy of its file would follow `..` imports).
    pipeline(TASK, model=str(saved_folder)).save_pretrained(tmp_path / "again")
    assert {p.name for p in (tmp_path / "again").iterdir()} == {p.name for p in saved_folder.iterdir()}
    again = json.loads((tmp_path / "again" / "config.json").read_text(encoding="utf-8"))
    assert again["custom_pipelines"] == config["custom_pipelines"]


def test_pipeline_runs_from_the_folder_where_bicpl_hf_is_not_installed(saved_folder, phantom_path, tmp_path,  # noqa: F811
                                                                       clean_python):  # noqa: F811
    # bicpl_hf's own pipeline on the same folder (no trust_remote_code: the installed package serves its task).
    diagnoser = pipeline(TASK, model=str(saved_folder))
    assert type(diagnoser) is ZeroShotEarDiagnosisPipeline
    expected = {}
    for name, kwargs, style in CASES:
        diagnoser.model.config.prompt_style = style
        expected[name] = _summary(diagnoser(phantom_path, **kwargs))
    diagnoser.model.config.prompt_style = "report"
    as_reports = _summary(diagnoser(phantom_path, **CASES[2][1]))
    assert as_reports["left"]["probabilities"] != pytest.approx(expected["composed"]["left"]["probabilities"], abs=1e-6)

    # The card's python blocks as written, with the local folder and the phantom for its two placeholders.
    card = (saved_folder / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```python\n(.*?)```", card, re.S)
    assert len(snippets) == 2 and 'pipeline("zero-shot-ear-diagnosis"' in snippets[0], snippets
    for placeholder in ("path/to/this/model", "path/to/exam_dicom_folder"):
        assert all(placeholder in s for s in snippets), placeholder
    snippets = [s.replace("path/to/this/model", str(saved_folder)).replace("path/to/exam_dicom_folder", phantom_path)
                for s in snippets]
    (tmp_path / "cases.json").write_text(json.dumps(CASES, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "snippets.json").write_text(json.dumps(snippets, ensure_ascii=False), encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), TOKENIZERS_PARALLELISM="false")
    run = subprocess.run([clean_python, "-c", REMOTE_SCRIPT, str(saved_folder), phantom_path,
                          str(tmp_path / "cases.json"), str(tmp_path / "snippets.json")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300)
    assert run.returncode == 0 and "SNIPPETS-OK" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULTS "))[8:])
    assert results.pop("module").startswith("transformers_modules.")
    for name, _, _ in CASES:
        _assert_same(results[name], expected[name], name)


def test_remote_knowledge_base_comes_from_the_model_folder(saved_folder, phantom_path, tmp_path, monkeypatch):  # noqa: F811
    # As in the remote copy, where no otology_kb.yaml sits beside the code: the pipeline reads the folder's.
    monkeypatch.setattr(pipeline_module, "DEFAULT_KNOWLEDGE_BASE", tmp_path / "absent" / "otology_kb.yaml")
    diagnoser = pipeline(TASK, model=str(saved_folder))
    assert len(diagnoser.knowledge_base) == len(pipeline_module.load_knowledge_base())
    assert set(diagnoser(phantom_path, candidate_labels=["胆脂瘤", "正常"]).left.probabilities) == {2, 5}
    bare = tmp_path / "no-kb"
    shutil.copytree(saved_folder, bare)
    (bare / "otology_kb.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"otology_kb.yaml.*has none.*class_prompts"):
        pipeline(TASK, model=str(bare))(phantom_path, candidate_labels=["胆脂瘤"])


def test_merge_drops_the_hub_task_earlier_cards_declared(model):  # noqa: F811
    from bicpl_hf.publishing.model_card import make_model_card

    generated = make_model_card(model)
    for theirs, kept in (("zero-shot-image-classification", None), ("image-classification", "image-classification")):
        existing = ModelCard(f"---\npipeline_tag: {theirs}\n---\n# Notes\n")
        assert merge_model_card(generated, existing).data.pipeline_tag == kept
