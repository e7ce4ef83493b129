"""Hub publishing: bundles, remote code, prototypes, model card, the push path against a local stand-in Hub, CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from _phantoms import make_head_phantom
from conftest import random_batch, tiny_config_kwargs, write_char_vocab
from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard, RepoUrl
from huggingface_hub.errors import EntryNotFoundError
from safetensors.torch import save_file
from transformers import AutoModel, AutoProcessor, BertTokenizer
from transformers.dynamic_module_utils import get_relative_import_files

import bicpl_hf.publishing.model_card as model_card_module
import bicpl_hf.zero_shot.prototypes as prototypes_module
from bicpl_hf import BiCPLConfig, BiCPLModel
from bicpl_hf.commands.push import add_push_parser
from bicpl_hf.modeling import configuration_bicpl, modeling_bicpl
from bicpl_hf.processing import ear_classes, image_processing_bicpl, processing_bicpl
from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
from bicpl_hf.processing.processing_bicpl import BiCPLProcessor
from bicpl_hf.publishing.hub import (
    find_phi_columns,
    make_model_card,
    pipeline_remote_sources,
    push_bundle,
    push_dataset,
    save_bundle,
)
from bicpl_hf.zero_shot.prototypes import (
    add_class_by_text,
    apply_prototypes,
    load_prototypes,
    prototype_bundle_from_model,
    push_prototypes_to_hub,
    save_prototypes,
)

REPORT = "影像所见：左侧鼓室内见软组织密度影，听骨链完整；右侧乳突气化良好。检查结论：左侧慢性化脓性中耳炎。"
DATA_FILES = {"README.md", "config.json", "model.safetensors", "processor_config.json", "tokenizer.json",
              "tokenizer_config.json", "prototypes.safetensors", "prompts.json", "otology_kb.yaml"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# What the package registers where the classes are defined; save_bundle must leave it unchanged.
AUTO_CLASS_BEFORE = {cls: cls.__dict__.get("_auto_class") for cls in (BiCPLModel, BiCPLConfig, BiCPLProcessor)}
AUTO_MAP_BEFORE = BiCPLConfig().to_dict().get("auto_map")


class LocalHub:
    """Stand-in for the Hub's repo, commit and file-download endpoints: each repo is a folder under `root`."""

    def __init__(self, root: Path):
        self.root, self.repos, self.commits, self.branches = root, {}, [], []

    def install(self, monkeypatch) -> LocalHub:
        hub = self

        def create_repo(api, repo_id, *, private=None, exist_ok=False, repo_type=None, **kwargs):
            repo_id = repo_id if "/" in repo_id else f"local-user/{repo_id}"
            if repo_id in hub.repos and not exist_ok:
                raise FileExistsError(repo_id)
            hub.repos.setdefault(repo_id, {"private": private})
            (hub.root / repo_id).mkdir(parents=True, exist_ok=True)
            return RepoUrl(f"https://huggingface.co/{repo_id}")

        def create_branch(api, repo_id, *, branch, exist_ok=False, **kwargs):
            assert repo_id in hub.repos, f"branch of {repo_id} before create_repo"
            hub.branches.append((repo_id, branch))

        def create_commit(api, repo_id, operations, *, commit_message, revision=None, create_pr=None, **kwargs):
            assert repo_id in hub.repos, f"commit to {repo_id} before create_repo"
            paths = []
            for operation in operations:
                assert isinstance(operation, CommitOperationAdd), operation
                target = hub.root / repo_id / operation.path_in_repo
                target.parent.mkdir(parents=True, exist_ok=True)
                with operation.as_file() as source:
                    target.write_bytes(source.read())
                paths.append(operation.path_in_repo)
            hub.commits.append({"repo_id": repo_id, "message": commit_message, "paths": sorted(paths),
                                "revision": revision, "create_pr": create_pr,
                                "description": kwargs.get("commit_description")})
            oid = f"{len(hub.commits):040x}"
            return CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/{oid}",
                              commit_message=commit_message, commit_description="", oid=oid)

        def hf_hub_download(repo_id, filename, **kwargs):
            path = hub.root / repo_id / filename
            if not path.is_file():
                raise EntryNotFoundError(f"{filename} is not in {repo_id}")
            return str(path)

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "create_commit", create_commit)
        monkeypatch.setattr(HfApi, "create_branch", create_branch)
        monkeypatch.setattr("huggingface_hub.repocard.hf_hub_download", hf_hub_download)
        monkeypatch.setattr(model_card_module, "hf_hub_download", hf_hub_download)
        monkeypatch.setattr(prototypes_module, "hf_hub_download", hf_hub_download)
        return self


@pytest.fixture
def local_hub(tmp_path, monkeypatch) -> LocalHub:
    return LocalHub(tmp_path / "hub").install(monkeypatch)


@pytest.fixture(scope="module")
def char_tokenizer(tmp_path_factory) -> BertTokenizer:
    return BertTokenizer(vocab=write_char_vocab(tmp_path_factory.mktemp("vocab")))


def _trained_looking_model(tokenizer, seed: int = 0, **overrides) -> BiCPLModel:
    """Prototypes from the class prompts, then moved away from the text anchors as training would; the A3B residual
    scales and the bilateral-difference columns (zero at init) too, so the remote code runs the whole comparison."""
    torch.manual_seed(seed)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(**overrides)))
    model.initialize_prototypes(tokenizer)
    with torch.no_grad():
        model.prototype_head.prototypes.add_(0.1 * torch.randn_like(model.prototype_head.prototypes))
        for block in model.vision_model.asymmetry_blocks:
            if hasattr(block, "layer_scale"):
                block.layer_scale.normal_()
        if model.config.bilateral:
            model.visual_projection.weight[:, model.config.vision_config.hidden_size:].normal_(std=0.1)
    return model.eval()


@pytest.fixture(scope="module")
def model(char_tokenizer) -> BiCPLModel:
    return _trained_looking_model(char_tokenizer)


@pytest.fixture(scope="module")
def processor(char_tokenizer) -> BiCPLProcessor:
    volume = BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0))
    return BiCPLProcessor(volume, char_tokenizer, max_length=64, side_max_length=32)


@pytest.fixture(scope="module")
def phantom_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ct") / "head.nii.gz"
    sitk.WriteImage(make_head_phantom(lesion_side="left", seed=5).to_sitk(), str(path))
    return str(path)


@pytest.fixture(scope="module")
def bundle_dir(model, processor, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bundle") / "bicpl"
    save_bundle(model, processor, directory, eval_results={"accuracy": 0.75, "auc_macro": 0.8},
                datasets=["my-lab/tbct-synthetic"], base_model="google-bert/bert-base-chinese", repo_id="my-lab/bicpl")
    return directory


def _outputs(model, batch) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(**batch)
    return {"logits": out.logits, "image_embeds": out.image_embeds, "text_embeds": out.text_embeds,
            "side_text_embeds": out.side_text_embeds}


def _model_inputs(features) -> dict[str, torch.Tensor]:
    return {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}


def _expected_code_files() -> set[str]:
    entry_modules = (configuration_bicpl, modeling_bicpl, processing_bicpl, image_processing_bicpl)
    auto_classes = {Path(f).name for m in entry_modules for f in [m.__file__, *get_relative_import_files(m.__file__)]}
    return auto_classes | set(pipeline_remote_sources())  # the zero-shot pipeline's remote code


def _assert_same_bundle(a, b) -> None:
    for field in ("class_codes", "class_names", "class_names_en", "class_prompts", "frozen_prototype_codes"):
        assert getattr(a, field) == getattr(b, field), field
    for field in ("prototypes", "trainable_prototypes", "text_prototypes"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


# ------------------------------------------------------------------------------------------------ bundle
def test_bundle_round_trip_is_exact(model, processor, bundle_dir):
    files = {p.name for p in bundle_dir.iterdir()}
    assert files == DATA_FILES | _expected_code_files()
    assert {"modeling_bicpl.py", "modeling_bicpl_vision.py", "losses_bicpl.py", "configuration_bicpl.py",
            "processing_bicpl.py", "image_processing_bicpl.py", "ear_classes.py"} <= files
    # The class table ships as a real file with processing's content (modeling/ reaches it through a link).
    assert not (bundle_dir / "ear_classes.py").is_symlink()
    assert (bundle_dir / "ear_classes.py").read_bytes() == Path(ear_classes.__file__).read_bytes()
    assert not [f for f in files if f.endswith(PICKLE_SUFFIXES)]
    config = json.loads((bundle_dir / "config.json").read_text(encoding="utf-8"))
    assert config["auto_map"] == {"AutoConfig": "configuration_bicpl.BiCPLConfig",
                                  "AutoModel": "modeling_bicpl.BiCPLModel"}
    processor_config = json.loads((bundle_dir / "processor_config.json").read_text(encoding="utf-8"))
    assert processor_config["auto_map"] == {"AutoProcessor": "processing_bicpl.BiCPLProcessor"}
    # save_bundle leaves the classes' registration (made where they are defined) and the config as they were.
    assert {cls: cls.__dict__.get("_auto_class") for cls in AUTO_CLASS_BEFORE} == AUTO_CLASS_BEFORE
    assert model.config.to_dict().get("auto_map") == AUTO_MAP_BEFORE

    loaded = AutoModel.from_pretrained(bundle_dir)
    assert type(loaded) is BiCPLModel
    batch = random_batch(batch_size=2)
    for name, expected in _outputs(model, batch).items():
        torch.testing.assert_close(_outputs(loaded, batch)[name], expected, rtol=0, atol=0, msg=name)
    assert torch.equal(loaded.get_prototypes(), model.get_prototypes())
    _assert_same_bundle(load_prototypes(bundle_dir), prototype_bundle_from_model(model))
    assert loaded.config.class_prompts == model.config.class_prompts

    reloaded = AutoProcessor.from_pretrained(bundle_dir)
    assert type(reloaded) is BiCPLProcessor and type(reloaded.image_processor) is BiCPLVolumeProcessor
    settings = lambda p: {k: v for k, v in p.image_processor.to_dict().items() if k != "auto_map"}  # noqa: E731
    assert settings(reloaded) == settings(processor)
    assert reloaded(text=REPORT)["input_ids"].tolist() == processor(text=REPORT)["input_ids"].tolist()


def test_model_card_metadata_and_content(bundle_dir, model):
    card = ModelCard.load(bundle_dir / "README.md")
    data = card.data
    assert data.language == ["zh", "en"] and data.library_name == "transformers" and data.license == "apache-2.0"
    assert {"bicpl", "medical", "ct", "temporal-bone", "zero-shot"} <= set(data.tags)
    assert data.base_model == "google-bert/bert-base-chinese" and data.datasets == ["my-lab/tbct-synthetic"]
    assert {(r.metric_name, r.metric_value, r.dataset_type) for r in data.eval_results} == {
        ("accuracy", 0.75, "my-lab/tbct-synthetic"), ("auc_macro", 0.8, "my-lab/tbct-synthetic")}
    text = card.text
    assert "`16 × 16 × 16`" in text and "`40 × 40 × 40`" in text and "2.5 × 2.5 × 2.5" in text  # ROI and spacing
    assert "bone: W 4000 / L 700; soft_tissue: W 350 / L 40" in text
    assert "mirrored across the mid-sagittal plane" in text and "镜像" in text
    assert "not a medical device" in text and "不是医疗器械" in text
    for code, name in zip(model.config.class_codes, model.config.class_names):
        assert f"| {code} | {name} |" in text
    assert 'AutoModel.from_pretrained("my-lab/bicpl", trust_remote_code=True)' in text
    with pytest.raises(ValueError, match="need the dataset"):
        make_model_card(model, eval_results={"accuracy": 0.5})
    with pytest.raises(ValueError, match="not a finite number"):
        make_model_card(model, eval_results={"auc": float("nan")}, datasets="my-lab/tbct")
    with pytest.raises(ValueError, match="base_model entry '/data/bert' is not a Hub id"):
        make_model_card(model, base_model="/data/bert")
    assert "No processor was given" in make_model_card(model).text


REMOTE_SCRIPT = r"""
import json, sys
# Hide the editable install of bicpl_hf: only the code inside the saved folder may be used.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "").lower()]
try:
    import bicpl_hf
    raise SystemExit(f"bicpl_hf is importable from {bicpl_hf.__file__}")
except ModuleNotFoundError:
    pass
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoProcessor

folder, expected_file, phantom, report = sys.argv[1:]
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
for obj in (model, processor, processor.image_processor):
    assert type(obj).__module__.startswith("transformers_modules."), type(obj).__module__
expected = load_file(expected_file)
features = processor(volumes=phantom, text=report)
inputs = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}
for key, value in inputs.items():
    assert torch.equal(value, expected["in_" + key]), key
with torch.no_grad():
    out = model(**inputs)
torch.testing.assert_close(out.logits, expected["logits"], rtol=0, atol=1e-6)
torch.testing.assert_close(out.side_text_embeds, expected["side_text_embeds"], rtol=0, atol=1e-6)
print("REMOTE-OK", type(model).__name__, type(processor).__name__)
"""


def _run_remote_script(model, processor, folder, phantom_path, tmp_path, python=sys.executable):
    """Load `folder` with trust_remote_code in a subprocess where bicpl_hf is not importable; compare outputs."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    features = processor(volumes=phantom_path, text=REPORT)
    inputs = _model_inputs(features)
    assert inputs["pixel_values"].shape == (1, 2, 2, 16, 16, 16)
    expected = {f"in_{k}": v.contiguous() for k, v in inputs.items()}
    expected.update({k: v.contiguous() for k, v in _outputs(model, inputs).items() if k != "text_embeds"})
    save_file(expected, str(tmp_path / "expected.safetensors"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), TOKENIZERS_PARALLELISM="false")
    result = subprocess.run(
        [python, "-c", REMOTE_SCRIPT, str(folder), str(tmp_path / "expected.safetensors"), phantom_path,
         REPORT], cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace",
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "REMOTE-OK BiCPLModel BiCPLProcessor" in result.stdout


def test_remote_code_loads_where_bicpl_hf_is_not_importable(model, processor, bundle_dir, phantom_path, tmp_path):
    _run_remote_script(model, processor, bundle_dir, phantom_path, tmp_path)


def test_standard_save_pretrained_writes_the_same_loadable_repository(model, processor, bundle_dir, phantom_path,
                                                                      tmp_path):
    folder = tmp_path / "plain"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    assert {p.name for p in folder.iterdir()} == {p.name for p in bundle_dir.iterdir()}
    for name in ("config.json", "processor_config.json", "prompts.json", "ear_classes.py", "modeling_bicpl.py"):
        assert (folder / name).read_bytes() == (bundle_dir / name).read_bytes(), name
    _assert_same_bundle(load_prototypes(folder), prototype_bundle_from_model(model))
    card = ModelCard.load(folder / "README.md").text
    assert "bone: W 4000 / L 700" in card and "pip install" in card and '"SimpleITK' in card
    _run_remote_script(model, processor, folder, phantom_path, tmp_path / "run")

    # The processor saved first: the model's save still writes the card with the preprocessing section.
    other = tmp_path / "processor-first"
    processor.save_pretrained(other)
    model.save_pretrained(other)
    assert "bone: W 4000 / L 700" in ModelCard.load(other / "README.md").text

    # push_to_hub saves through save_pretrained: the uploaded folder holds the remote code and prototypes.
    with pytest.MonkeyPatch.context() as patch:
        hub = LocalHub(tmp_path / "hub").install(patch)
        model.push_to_hub("my-lab/bicpl")
    uploaded = hub.root / "my-lab/bicpl"
    assert {"modeling_bicpl.py", "ear_classes.py", "prototypes.safetensors", "prompts.json"} <= set(hub.commits[0]["paths"])
    assert "不是医疗器械" in (uploaded / "README.md").read_text(encoding="utf-8")  # Bi-CPL's card, not the generic one


# ------------------------------------------------------------------------------------------------ push
def test_push_bundle_is_one_commit_of_exactly_the_bundle(model, processor, local_hub):
    upload = push_bundle(model, processor, "my-lab/bicpl-tbct", private=True, commit_message="v1",
                         datasets=["my-lab/tbct-synthetic"])
    assert len(local_hub.commits) == 1 and local_hub.repos == {"my-lab/bicpl-tbct": {"private": True}}
    commit = local_hub.commits[0]
    assert commit["message"] == "v1" and set(commit["paths"]) == DATA_FILES | _expected_code_files()
    assert sorted(f.path for f in upload.files) == commit["paths"] and upload.commit.oid == f"{1:040x}"
    uploaded = local_hub.root / "my-lab/bicpl-tbct"
    assert not [p for p in commit["paths"] if p.endswith(PICKLE_SUFFIXES)]
    assert [p for p in commit["paths"] if "model" in p and not p.endswith((".py", ".md"))] == ["model.safetensors"]
    assert ModelCard.load(uploaded / "README.md").data.datasets == ["my-lab/tbct-synthetic"]
    loaded = AutoModel.from_pretrained(uploaded)
    batch = random_batch(batch_size=1, generator_seed=3)
    torch.testing.assert_close(_outputs(loaded, batch)["logits"], _outputs(model, batch)["logits"], rtol=0, atol=0)
    assert BiCPLProcessor.from_pretrained(uploaded).image_processor.roi_shape == [16, 16, 16]
    _assert_same_bundle(load_prototypes("my-lab/bicpl-tbct"), prototype_bundle_from_model(model))  # via the Hub


def test_push_dry_run_lists_every_file_and_contacts_nothing(model, processor, local_hub):
    plan = push_bundle(model, processor, "my-lab/bicpl-tbct", dry_run=True)
    assert plan.dry_run and local_hub.commits == [] and local_hub.repos == {}
    listing = plan.listing()
    assert {f.path for f in plan.files} == DATA_FILES | _expected_code_files()
    for f in plan.files:
        assert f.size > 0 and f"{f.size:>12d}  {f.path}" in listing


def test_stock_push_to_hub_of_model_and_processor(model, processor, local_hub):
    model.push_to_hub("my-lab/bicpl-model-only")
    processor.push_to_hub("my-lab/bicpl-processor-only")
    assert [c["repo_id"] for c in local_hub.commits] == ["my-lab/bicpl-model-only", "my-lab/bicpl-processor-only"]
    model_files = local_hub.commits[0]["paths"]
    assert "model.safetensors" in model_files and not [p for p in model_files if p.endswith(PICKLE_SUFFIXES)]
    loaded = AutoModel.from_pretrained(local_hub.root / "my-lab/bicpl-model-only")
    batch = random_batch(batch_size=1)
    torch.testing.assert_close(_outputs(loaded, batch)["logits"], _outputs(model, batch)["logits"], rtol=0, atol=0)
    reloaded = BiCPLProcessor.from_pretrained(local_hub.root / "my-lab/bicpl-processor-only")
    assert reloaded.image_processor.roi_size_mm == [40.0, 40.0, 40.0] and reloaded.side_max_length == 32


def test_clear_errors(model, processor, char_tokenizer, local_hub, tmp_path):
    with pytest.raises(ValueError, match="needs its processor"):
        push_bundle(model, None, "my-lab/bicpl")
    for bad in ("not a repo id", "a/b/c", "my-lab/bad--name", ""):
        with pytest.raises(ValueError, match="invalid Hub repo id"):
            push_bundle(model, processor, bad, dry_run=True)
    broken = _trained_looking_model(char_tokenizer, seed=1)
    broken.prototype_head.text_prototypes = torch.zeros(5, 16)
    with pytest.raises(ValueError, match=r"has shape \(5, 16\).*6 classes.*expected \(6, 16\)"):
        push_bundle(broken, processor, "my-lab/bicpl")
    other_roi = BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=(32, 32, 32)), char_tokenizer)
    with pytest.raises(ValueError, match=r"roi_shape \[32, 32, 32\].*image_size \[16, 16, 16\]"):
        save_bundle(model, other_roi, tmp_path / "b")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "pytorch_model.bin").write_bytes(b"stale")
    with pytest.raises(FileExistsError, match="empty or new folder"):
        save_bundle(model, processor, tmp_path / "full")
    assert local_hub.commits == [] and local_hub.repos == {}


# ------------------------------------------------------------------------------------------------ prototypes
def test_prototypes_save_load_apply(model, char_tokenizer, tmp_path):
    save_prototypes(model, tmp_path)
    bundle = load_prototypes(tmp_path)
    _assert_same_bundle(bundle, prototype_bundle_from_model(model))
    prompts = json.loads((tmp_path / "prompts.json").read_text(encoding="utf-8"))
    assert prompts["classes"][3] == {"code": 4, "name": "胆固醇肉芽肿", "name_en": "cholesterol granuloma",
                                     "frozen": True, "prompts": model.config.class_prompts["4"]}
    other = _trained_looking_model(char_tokenizer, seed=7)
    other.config.class_names_en = ["x"] * 6
    assert not torch.allclose(other.get_prototypes(), model.get_prototypes())
    apply_prototypes(other, bundle)
    assert torch.equal(other.get_prototypes(), model.get_prototypes())
    assert other.config.class_names_en == model.config.class_names_en
    batch = random_batch(batch_size=1)
    with torch.no_grad():
        features = F.normalize(other.get_image_features(batch["pixel_values"]).pooler_output, dim=-1)
        torch.testing.assert_close(other(**batch).logits, other.prototype_head(features, bundle.prototypes))


def test_apply_prototypes_mismatch_errors_name_both_shapes(model, char_tokenizer, tmp_path):
    bundle = prototype_bundle_from_model(model)
    narrow = _trained_looking_model(char_tokenizer, projection_dim=8)
    with pytest.raises(ValueError, match=r"shape \(6, 16\).*= \(6, 8\)"):
        apply_prototypes(narrow, bundle)
    reordered = dataclasses.replace(bundle, class_codes=bundle.class_codes[::-1],
                                    class_names=bundle.class_names[::-1], class_names_en=bundle.class_names_en[::-1])
    with pytest.raises(ValueError, match="same codes in the same order"):
        apply_prototypes(narrow, dataclasses.replace(reordered, prototypes=torch.zeros(6, 8),
                                                     trainable_prototypes=torch.zeros(6, 8),
                                                     text_prototypes=torch.zeros(6, 8)))
    save_prototypes(bundle, tmp_path)
    prompts = json.loads((tmp_path / "prompts.json").read_text(encoding="utf-8"))
    prompts["classes"][0]["code"] = 9
    (tmp_path / "prompts.json").write_text(json.dumps(prompts, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"prompts.json lists class codes \[9, 2.*prototypes.safetensors has rows"):
        load_prototypes(tmp_path)
    with pytest.raises(FileNotFoundError, match="neither a folder"):
        load_prototypes(tmp_path / "missing" / "deeper")


def test_add_class_by_text_refreshes_the_bundle_and_pushes_alone(char_tokenizer, tmp_path, local_hub):
    model = _trained_looking_model(char_tokenizer, seed=2)
    prompts = ["面神经管增宽，软组织肿块，邻近骨质破坏。"]
    bundle = add_class_by_text(model, char_tokenizer, 7, "面神经鞘瘤", prompts, name_en="facial nerve schwannoma",
                               bundle_directory=tmp_path)
    saved = load_prototypes(tmp_path)
    _assert_same_bundle(saved, bundle)
    assert saved.class_codes[-1] == 7 and 7 in saved.frozen_prototype_codes and saved.shape == (7, 16)
    text_prototype = model.encode_class_prompts(char_tokenizer, {7: prompts})[0]
    torch.testing.assert_close(saved.prototypes[-1], text_prototype)
    with torch.no_grad():
        assert model(**random_batch(batch_size=1)).logits.shape == (1, 2, 7)
    six_class = _trained_looking_model(char_tokenizer, seed=3)
    with pytest.raises(ValueError, match=r"shape \(7, 16\).*6 classes.*= \(6, 16\)"):
        apply_prototypes(six_class, saved)

    push_prototypes_to_hub("my-lab/bicpl-prototypes", tmp_path, private=False)
    assert [c["paths"] for c in local_hub.commits] == [["prompts.json", "prototypes.safetensors"]]
    _assert_same_bundle(load_prototypes("my-lab/bicpl-prototypes"), saved)
    with pytest.raises(ValueError, match="invalid Hub repo id"):
        push_prototypes_to_hub("bad id", model)


# ------------------------------------------------------------------------------------------------ datasets, CLI
def test_push_dataset_refuses_patient_identifiers(monkeypatch):
    from datasets import Dataset, DatasetDict

    clean = DatasetDict({"train": Dataset.from_dict({"exam_id": ["x1"], "left_label": [1], "report": ["r"]}),
                         "test": Dataset.from_dict({"exam_id": ["x2"], "left_label": [5], "report": ["r"]})})
    leaky = DatasetDict({
        "train": Dataset.from_dict({"exam_id": ["x1"], "Patient Name": ["Zhang San"]}),
        "test": Dataset.from_dict({"exam_id": ["x2"], "meta": [{"birth_date": "1970-01-01", "site": "A"}],
                                   "患者姓名": ["张三"]}),
    })
    assert find_phi_columns(clean) == []
    assert find_phi_columns(leaky) == ["train:Patient Name", "test:meta.birth_date", "test:患者姓名"]
    calls = []
    monkeypatch.setattr(DatasetDict, "push_to_hub", lambda self, repo_id, **kw: calls.append((self, repo_id, kw)))
    with pytest.raises(ValueError, match=r"train:Patient Name.*test:meta.birth_date.*test:患者姓名"):
        push_dataset(leaky, "my-lab/tbct")
    with pytest.raises(ValueError, match="invalid Hub repo id"):
        push_dataset(clean, "my lab/tbct")
    assert calls == []
    push_dataset(clean, "my-lab/tbct", private=True, max_shard_size="10MB")
    assert calls == [(clean, "my-lab/tbct", {"private": True, "token": None, "commit_message": None,
                                             "max_shard_size": "10MB"})]
    verified = DatasetDict({"test": leaky["test"].remove_columns(["患者姓名"])})
    push_dataset(verified, "my-lab/tbct", allowed_columns=["meta.birth_date"])  # a checked pseudonym
    assert len(calls) == 2 and calls[1][0] is verified


def _run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="bicpl")
    add_push_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_push_dry_run_lists_every_file_and_size(model, processor, tmp_path, capsys, local_hub):
    model_dir = tmp_path / "run"
    model.save_pretrained(model_dir)
    code, out, err = _run_cli(["push", str(model_dir), "my-lab/bicpl", "--dry-run"], capsys)
    assert code == 2 and "processor_config.json is missing" in err
    processor.save_pretrained(model_dir)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.7}), encoding="utf-8")
    code, out, err = _run_cli(["push", str(model_dir), "my-lab/bicpl", "--dry-run", "--eval-results", str(metrics),
                               "--dataset", "my-lab/tbct"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "would upload (dry run)" in lines[0]
    listed = {line.split()[1]: int(line.split()[0]) for line in lines[1:]}
    assert set(listed) == DATA_FILES | _expected_code_files() and all(size > 0 for size in listed.values())
    assert local_hub.commits == []
    code, out, err = _run_cli(["push", str(model_dir), "not/a/repo"], capsys)
    assert code == 2 and "invalid Hub repo id" in err
