"""`model.push_to_hub` / `processor.push_to_hub` go through the Hub's public API (create_repo, create_branch,
create_commit; the existing card read with hf_hub_download) and honour every argument; an existing card keeps its
user-written text. The Hub is a local stand-in (`LocalHub` of test_hub.py) that records each call."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi, ModelCard

# The tiny model and processor of the hub tests (module fixtures; the test arguments below name them).
# ruff: noqa: F811
from test_hub import LocalHub, char_tokenizer, model, processor  # noqa: F401
from transformers.utils.hub import PushToHubMixin

from bicpl_hf.modeling import BiCPLModel, modeling_bicpl
from bicpl_hf.processing import processing_bicpl
from bicpl_hf.processing.processing_bicpl import BiCPLProcessor
from bicpl_hf.publishing.hub import push_bundle
from bicpl_hf.publishing.model_card import GENERATED_END, GENERATED_START, make_model_card, merge_model_card

USER_CARD = """---
license: mit
tags:
- my-own-tag
---
# Our temporal-bone model

Trained at our hospital; contact the ENT imaging group before use.
"""


@pytest.fixture
def hub(tmp_path, monkeypatch) -> LocalHub:
    hub = LocalHub(tmp_path / "hub").install(monkeypatch)
    calls = []
    create_repo, create_commit = HfApi.create_repo, HfApi.create_commit
    monkeypatch.setattr(HfApi, "create_repo", lambda api, repo_id, **kw: calls.append(("create_repo", kw))
                        or create_repo(api, repo_id, **kw))
    monkeypatch.setattr(HfApi, "create_commit", lambda api, repo_id, ops, **kw: calls.append(("create_commit", kw))
                        or create_commit(api, repo_id, ops, **kw))

    def private_method(*args, **kwargs):
        raise AssertionError("push_to_hub must not go through PushToHubMixin._upload_modified_files")

    monkeypatch.setattr(PushToHubMixin, "_upload_modified_files", private_method)
    hub.calls = calls
    return hub


def _card(hub: LocalHub, repo_id: str) -> ModelCard:
    return ModelCard.load(hub.root / repo_id / "README.md")


def test_model_push_honours_tags_message_private_revision(model, hub):
    commit = model.push_to_hub("my-lab/bicpl", tags=["otology", "bicpl"], commit_message="v2 weights",
                               commit_description="after fold 3", private=True, revision="dev")
    assert hub.repos == {"my-lab/bicpl": {"private": True}} and hub.branches == [("my-lab/bicpl", "dev")]
    assert [c["message"] for c in hub.commits] == ["v2 weights"] and commit.oid == f"{1:040x}"
    (name, repo_kwargs), (_, commit_kwargs) = hub.calls
    assert name == "create_repo" and repo_kwargs["private"] is True and repo_kwargs["exist_ok"] is True
    assert commit_kwargs["revision"] == "dev" and commit_kwargs["create_pr"] is False
    assert commit_kwargs["commit_description"] == "after fold 3"
    assert {"model.safetensors", "config.json", "README.md", "prototypes.safetensors", "modeling_bicpl.py"} <= set(
        hub.commits[0]["paths"])
    card = _card(hub, "my-lab/bicpl")
    assert {"otology", "bicpl", "medical", "temporal-bone"} <= set(card.data.tags)
    assert card.data.tags.count("bicpl") == 1
    assert GENERATED_START in card.text and GENERATED_END in card.text and "不是医疗器械" in card.text
    assert 'AutoModel.from_pretrained("my-lab/bicpl", trust_remote_code=True)' in card.text


def test_create_pr_opens_a_pull_request_without_creating_the_branch(model, hub):
    model.push_to_hub("my-lab/bicpl", create_pr=True)
    assert hub.branches == [] and hub.commits[0]["create_pr"] is True and hub.commits[0]["message"] == "Upload model"
    assert hub.calls[0][1]["private"] is None


def test_existing_card_keeps_the_users_text_and_metadata(model, processor, hub):
    (hub.root / "my-lab/bicpl").mkdir(parents=True)
    (hub.root / "my-lab/bicpl/README.md").write_text(USER_CARD, encoding="utf-8")
    model.push_to_hub("my-lab/bicpl", tags=["otology"])
    first = _card(hub, "my-lab/bicpl")
    assert first.text.startswith("# Our temporal-bone model\n\nTrained at our hospital")  # user's text, first
    assert first.text.count(GENERATED_START) == 1 and "不是医疗器械" in first.text
    assert first.data.license == "mit"  # the user's value wins over our default apache-2.0
    assert first.data.tags[0] == "my-own-tag" and {"otology", "bicpl"} <= set(first.data.tags)

    # A second push (here the processor's, now that the repo holds the model) replaces only the marked block.
    processor.push_to_hub("my-lab/bicpl", commit_message="processor")
    second = _card(hub, "my-lab/bicpl")
    assert second.text.startswith("# Our temporal-bone model\n\nTrained at our hospital")
    assert second.text.count(GENERATED_START) == 1 and second.text.count(GENERATED_END) == 1
    assert "bone: W 4000 / L 700" in second.text  # the processor's preprocessing section
    for code, name in zip(model.config.class_codes, model.config.class_names):
        assert f"| {code} | {name} |" in second.text  # the model's class table, read from the repo's config.json
    assert "my-own-tag" in second.data.tags and "otology" in second.data.tags and second.data.license == "mit"
    assert [c["message"] for c in hub.commits] == ["Upload model", "processor"]


def test_text_after_the_generated_block_is_kept(model, hub):
    (hub.root / "my-lab/bicpl").mkdir(parents=True)
    stale = f"# Mine\n\nabove\n\n{GENERATED_START}\nold generated text\n{GENERATED_END}\n\n## Citation\n\nbelow\n"
    (hub.root / "my-lab/bicpl/README.md").write_text(stale, encoding="utf-8")
    model.push_to_hub("my-lab/bicpl")
    text = _card(hub, "my-lab/bicpl").text
    assert "old generated text" not in text and "不是医疗器械" in text
    assert text.startswith("# Mine\n\nabove\n\n") and text.endswith("\n\n## Citation\n\nbelow\n")


def test_processor_push_to_a_new_repo_writes_the_bicpl_card(processor, hub):
    processor.push_to_hub("my-lab/bicpl-processor", tags=["preprocessing"], private=False)
    assert hub.repos == {"my-lab/bicpl-processor": {"private": False}}
    commit = hub.commits[0]
    assert commit["message"] == "Upload processor" and "processor_config.json" in commit["paths"]
    card = _card(hub, "my-lab/bicpl-processor")
    assert "not a medical device" in card.text and "bone: W 4000 / L 700" in card.text
    assert "automatically generated" not in card.text  # not transformers' generic card
    assert "No Bi-CPL model has been pushed with this processor yet" in card.text
    assert {"preprocessing", "bicpl"} <= set(card.data.tags)
    assert BiCPLProcessor.from_pretrained(hub.root / "my-lab/bicpl-processor").side_max_length == 32


def test_merge_rule_metadata(model):
    ours = make_model_card(model, eval_results={"accuracy": 0.8}, datasets=["my-lab/tbct"], tags=["x"])
    theirs = ModelCard("---\nlicense: mit\ndatasets:\n- old/data\nlanguage:\n- en\n---\n# Notes\n")
    merged = merge_model_card(ours, theirs, tags=["y"])
    assert merged.data.license == "mit" and merged.data.language == ["en"]  # theirs kept
    assert merged.data.datasets == ["my-lab/tbct"] and merged.data.eval_results[0].metric_value == 0.8  # ours
    assert merged.data.tags[-2:] == ["x", "y"] and merged.text.startswith("# Notes\n")
    assert merge_model_card(ours).text == ours.text  # a new repository gets our card as it is


def test_remote_code_classes_keep_the_stock_push_to_hub(model):
    # The hook lives on the installed package's classes only; the flat remote-code copies define it as None.
    assert BiCPLModel.hub_pusher is not None and BiCPLProcessor.hub_pusher is not None
    for module in (modeling_bicpl, processing_bicpl):
        assert "    hub_pusher = None" in Path(module.__file__).read_text(encoding="utf-8")


def test_push_bundle_keeps_the_users_card_text_too(model, processor, hub):
    (hub.root / "my-lab/bicpl").mkdir(parents=True)
    (hub.root / "my-lab/bicpl/README.md").write_text(USER_CARD, encoding="utf-8")
    push_bundle(model, processor, "my-lab/bicpl", datasets=["my-lab/tbct"], revision="v1")
    card = _card(hub, "my-lab/bicpl")
    assert card.text.startswith("# Our temporal-bone model\n") and "bone: W 4000 / L 700" in card.text
    assert card.data.datasets == ["my-lab/tbct"] and "my-own-tag" in card.data.tags
    assert hub.branches == [("my-lab/bicpl", "v1")] and hub.commits[0]["revision"] == "v1"


def test_cli_push_passes_tags_message_private_revision(model, processor, hub, tmp_path, capsys):
    import argparse

    from bicpl_hf.commands.push import add_push_parser

    model.save_pretrained(tmp_path / "run")
    processor.save_pretrained(tmp_path / "run")
    parser = argparse.ArgumentParser(prog="bicpl")
    add_push_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["push", str(tmp_path / "run"), "my-lab/bicpl", "--tag", "otology", "--private",
                              "--commit-message", "cli push", "--revision", "dev"])
    assert args.func(args) == 0, capsys.readouterr().err
    assert hub.repos == {"my-lab/bicpl": {"private": True}} and hub.commits[0]["message"] == "cli push"
    assert hub.commits[0]["revision"] == "dev" and "otology" in _card(hub, "my-lab/bicpl").data.tags
