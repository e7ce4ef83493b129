# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
r"""Export a saved Bi-CPL model as a MONAI bundle, next to its transformers form.

Layout (MONAI's bundle specification):

```
configs/metadata.json      network data format of both ears, the class table, the preprocessing
configs/inference.json     network, processor and a `run` that diagnoses a folder of exams
configs/meta_schema.json   offline copy of the metadata schema's required fields (verify_metadata --filepath)
models/bicpl/              the model + processor as `save_pretrained` writes them (safetensors, remote code)
models/model.pt            the same weights as `network_def`'s state dict (torch.save), MONAI's checkpoint
scripts/bicpl_network.py   the MONAI-shaped network: (batch, 2 x windows, D, H, W) -> per-ear probabilities
docs/README.md, LICENSE
```

The network takes both ears stacked on the channel axis — the left ear's windows, then the mirrored right ear's —
and returns `(batch, 2 x num_classes)` probabilities, left ear's classes first (softmax per ear).

Example:
    >>> export_monai_bundle("runs/bicpl/final", "bicpl_bundle")  # doctest: +SKIP
    $ cd bicpl_bundle && python -m monai.bundle verify_net_in_out network_def --meta_file configs/metadata.json \\
          --config_file configs/inference.json
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

__all__ = ["BUNDLE_REQUIREMENTS", "MONAI_META_SCHEMA_URL", "export_monai_bundle"]

# What the bundle's documented commands import: the remote code's packages (the model card's list: torch,
# transformers, SimpleITK, nibabel for NIfTI, ...), plus `fire` (the `python -m monai.bundle` command line) and
# `jsonschema` (verify_metadata). tests/publishing/test_monai_bundle_run.py runs the README in a venv of only these.
BUNDLE_REQUIREMENTS = ("monai", "torch", "numpy", "transformers", "huggingface_hub", "safetensors", "SimpleITK",
                       "nibabel", "fire", "jsonschema")

MONAI_META_SCHEMA_URL = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20220324.json"
)
_SCHEMA_FILE = Path(__file__).with_name("monai_meta_schema.json")

_NETWORK_SCRIPT = '''"""Bi-CPL as a MONAI network: both ears on the channel axis in, per-ear class probabilities out."""

import torch
from torch import nn
from transformers import AutoModel


class BiCPLBundleNetwork(nn.Module):
    """(batch, 2 * windows, D, H, W) [left windows, mirrored right windows] -> (batch, 2 * classes) probabilities."""

    def __init__(self, model_dir: str):
        super().__init__()
        self.model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
        # The remote code lives in `transformers_modules.<folder>.<hash>...`: a hash may start with a digit, which
        # TorchScript cannot load back (ckpt_export's models/model.ts). Name those classes `bicpl.<file>.<class>`.
        for module in self.model.modules():
            cls = type(module)
            if cls.__module__.startswith("transformers_modules.") and "_jit_override_qualname" not in vars(cls):
                cls._jit_override_qualname = f"__torch__.bicpl.{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        batch, channels = image.shape[:2]
        pixel_values = image.reshape(batch, 2, channels // 2, *image.shape[2:]).to(self.model.dtype)
        return self.model(pixel_values=pixel_values).logits.float().softmax(-1).reshape(batch, -1)


def diagnose_folder(network, processor, exams, output_dir):
    """Diagnose every exam path in `exams`; writes `<output_dir>/predictions.json`."""
    import json
    import os

    codes = list(network.model.config.class_codes)
    results = []
    for exam in exams:
        pixel_values = processor(volumes=exam)["pixel_values"]
        with torch.no_grad():
            probs = network(pixel_values.flatten(1, 2)).reshape(2, -1)
        results.append({"exam": exam, **{side: dict(zip(codes, map(float, probs[i])))
                                          for i, side in enumerate(("left", "right"))}})
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "predictions.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, ensure_ascii=False, indent=2)
    return results
'''


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in BUNDLE_REQUIREMENTS}


def _metadata(config, volume, version: str, license_name: str) -> dict:
    versions = _versions()
    names = list(volume.channel_names)  # the windows, then a coarse ROI's windows when the processor makes one
    channels = len(names)
    classes = list(zip(config.class_codes, config.class_names, config.class_names_en))
    channel_def = {str(i): f"{side} ear {name} window" for i, (side, name) in
                   enumerate((s, n) for s in ("left", "mirrored right") for n in names)}
    pred_def = {str(i): f"{side} ear: {code} {name_en} ({name})" for i, (side, (code, name, name_en)) in
                enumerate((s, c) for s in ("left", "right") for c in classes)}
    return {
        "schema": MONAI_META_SCHEMA_URL,
        "version": version,
        "changelog": {version: "exported from bicpl-hf"},
        "monai_version": versions["monai"],
        "pytorch_version": versions["torch"].split("+")[0],
        "numpy_version": versions["numpy"],
        "required_packages_version": {k: v for k, v in versions.items() if k not in ("monai", "torch", "numpy")},
        "name": "Bi-CPL temporal-bone CT",
        "task": "Per-ear classification of temporal-bone CT (zero-shot capable vision-language model)",
        "description": "Bi-CPL: a Siamese 3D encoder compares the left ear with the mirrored right ear; class "
                       "prototypes come from Chinese report-style prompts. Research use only, not a medical device.",
        "authors": "bicpl-hf authors",
        "copyright": "Copyright 2026 The bicpl-hf authors",
        "license": license_name,
        "data_type": "dicom / nifti / nrrd / mha (read by the processor in models/bicpl)",
        "image_classes": f"{2 * channels} channels: the left ear's HU windows {names}, then the mirrored right ear's",
        "pred_classes": f"{2 * len(classes)} probabilities: the left ear's {len(classes)} classes, then the right "
                        "ear's",
        "intended_use": "Research only. Not a medical device; not for clinical decisions.",
        "class_table": [{"code": c, "name": n, "name_en": e} for c, n, e in classes],
        "preprocessing": {
            "processor": "models/bicpl (transformers AutoProcessor, trust_remote_code=True)",
            "steps": "read the CT -> localise both otic capsules -> extract the ear ROIs, right ROI mirrored onto "
                     "the left's orientation -> one channel per HU window: "
                     "clip((HU - (level - width / 2)) / width, 0, 1)",
            "roi_shape": list(volume.roi_shape),
            "roi_size_mm": list(volume.roi_size_mm),
            "windows": [dict(w) for w in volume.windows],
            "register": bool(volume.register),
        },
        "network_data_format": {
            "inputs": {"image": {
                "type": "image", "format": "hounsfield", "modality": "CT", "num_channels": 2 * channels,
                "spatial_shape": list(volume.roi_shape), "dtype": "float32", "value_range": [0, 1],
                "is_patch_data": False, "channel_def": channel_def,
            }},
            "outputs": {"pred": {
                "type": "probabilities", "format": "classes", "num_channels": 2 * len(classes),
                "spatial_shape": [1], "dtype": "float32", "value_range": [0, 1], "is_patch_data": False,
                "channel_def": pred_def,
            }},
        },
    }


# `import a.b` binds the name `a.b` in MONAI's expression globals (not `a`): import the script module under an alias.
_INFERENCE = {
    "imports": ["$import torch", "$import transformers", "$import scripts.bicpl_network as bicpl_network"],
    "bundle_root": ".",
    "model_dir": "$@bundle_root + '/models/bicpl'",
    "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
    "network_def": {"_target_": "scripts.bicpl_network.BiCPLBundleNetwork", "model_dir": "@model_dir"},
    "network": "$@network_def.to(@device)",
    "checkpoint": "$@bundle_root + '/models/model.pt'",
    "initialize": ["$@network.load_state_dict(torch.load(@checkpoint, map_location=@device, weights_only=True))"],
    "processor": "$transformers.AutoProcessor.from_pretrained(@model_dir, trust_remote_code=True)",
    "exams": [],
    "output_dir": "$@bundle_root + '/eval'",
    "run": ["$bicpl_network.diagnose_folder(@network, @processor, @exams, @output_dir)"],
}


def _readme(metadata: dict) -> str:
    rows = "\n".join(f"| {c['code']} | {c['name']} | {c['name_en']} |" for c in metadata["class_table"])
    pre = metadata["preprocessing"]
    channels = metadata["network_data_format"]["inputs"]["image"]["num_channels"]
    return f"""# {metadata['name']} — MONAI bundle

{metadata['description']}

## Input / output

- `image`: `(batch, {channels}, {', '.join(map(str, pre['roi_shape']))})` float32 in [0, 1] —
  {metadata['image_classes']}. Make it with the processor in `models/bicpl` ({pre['steps']}).
- `pred`: {metadata['pred_classes']}.

| code | 类别 | class |
|---:|---|---|
{rows}

## Use

```bash
pip install {' '.join(BUNDLE_REQUIREMENTS)}
cd this_bundle
python -m monai.bundle verify_metadata --meta_file configs/metadata.json --filepath configs/meta_schema.json
python -m monai.bundle verify_net_in_out network_def --meta_file configs/metadata.json --config_file configs/inference.json
python -m monai.bundle run --config_file configs/inference.json --exams "['exam_dicom_folder', 'exam.nii.gz']"
python -m monai.bundle ckpt_export network_def --filepath models/model.ts --config_file configs/inference.json --use_trace True
```

`run` diagnoses every exam in `--exams` (a DICOM series folder or a NIfTI / NRRD / MHA file) and writes
`eval/predictions.json`: per exam, each ear's class probabilities. `models/model.pt` is the state dict of
`network_def` (`torch.save`; what `initialize` loads and `CheckpointLoader` / `ckpt_export` read); `ckpt_export`
traces the network into TorchScript `models/model.ts`.

`configs/meta_schema.json` is an offline copy of the fields MONAI's metadata schema requires (the file exists, so
`verify_metadata` does not download the schema named in `metadata.json`). Run the commands from the bundle folder:
`scripts/` is imported from there. The same weights load with transformers:
`AutoModel.from_pretrained("models/bicpl", trust_remote_code=True)`.

## License and intended use

{metadata['license']}. {metadata['intended_use']}
"""


_APACHE_NOTICE = """Copyright 2026 The bicpl-hf authors

Licensed under the Apache License, Version 2.0 (the "License"); you may not use this bundle except in compliance
with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the License is distributed on
an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the License for the
specific language governing permissions and limitations under the License.
"""


def export_monai_bundle(model_dir: str | os.PathLike, bundle_dir: str | os.PathLike, *, version: str = "0.1.0",
                        license: str = "Apache-2.0") -> list[Path]:
    """Write a MONAI bundle for the saved model (+ processor) in `model_dir` into a new or empty `bundle_dir`.

    Returns every file written.
    """
    from ..modeling import BiCPLModel
    from ..processing.processing_bicpl import BiCPLProcessor

    model_dir, bundle_dir = Path(model_dir), Path(bundle_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a saved Bi-CPL model: config.json is missing")
    if not (model_dir / "processor_config.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no processor (processor_config.json): save the BiCPLProcessor "
                                "there with processor.save_pretrained")
    if bundle_dir.exists() and (not bundle_dir.is_dir() or any(bundle_dir.iterdir())):
        raise FileExistsError(f"{bundle_dir} already has content; give a new or empty folder")
    model, processor = BiCPLModel.from_pretrained(model_dir), BiCPLProcessor.from_pretrained(model_dir)
    for folder in ("configs", "models", "scripts", "docs"):
        (bundle_dir / folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(bundle_dir / "models" / "bicpl")  # weights, config, remote code, prototypes, card
    processor.save_pretrained(bundle_dir / "models" / "bicpl")
    # MONAI's checkpoint: the state dict of `network_def` (the network wraps the model as `.model`), torch.save'd.
    import torch

    torch.save({f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()},
               bundle_dir / "models" / "model.pt")
    metadata = _metadata(model.config, processor.image_processor, version, license)
    (bundle_dir / "configs" / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n",
                                                          encoding="utf-8")
    (bundle_dir / "configs" / "inference.json").write_text(json.dumps(_INFERENCE, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(_SCHEMA_FILE, bundle_dir / "configs" / "meta_schema.json")
    (bundle_dir / "scripts" / "__init__.py").write_text("", encoding="utf-8")
    (bundle_dir / "scripts" / "bicpl_network.py").write_text(_NETWORK_SCRIPT, encoding="utf-8")
    (bundle_dir / "docs" / "README.md").write_text(_readme(metadata), encoding="utf-8")
    (bundle_dir / "LICENSE").write_text(_APACHE_NOTICE if license.lower().startswith("apache") else
                                        f"{license}\n", encoding="utf-8")
    return sorted(p for p in bundle_dir.rglob("*") if p.is_file())
