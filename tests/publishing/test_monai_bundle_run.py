"""The exported MONAI bundle's documented commands, run exactly as its docs/README.md writes them, in a clean venv that
holds only the README's `pip install` packages (and their dependencies): no bicpl_hf. `run` diagnoses a NIfTI exam and
a DICOM series folder; `ckpt_export` traces `network_def` loaded from `models/model.pt` into TorchScript.

The clean venv links the installed distributions' own files (from their RECORD) into a fresh venv's site-packages
instead of pip-installing ~1 GB of wheels: same packages, same versions, nothing else importable, built in a second.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import venv
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _phantoms import make_head_phantom, write_dicom_series

# The tiny model and processor of the hub tests (module fixtures), and the installed dependency closure.
from test_clean_venv import distribution_closure
from test_hub import char_tokenizer, model, processor  # noqa: F401

from bicpl_hf.publishing.monai_bundle import BUNDLE_REQUIREMENTS, export_monai_bundle

pytestmark = pytest.mark.slow


def _linked_venv(folder: Path, names) -> str:
    """A venv whose site-packages links exactly the top-level files of `names`' distribution closure."""
    try:
        dists = distribution_closure(names)
    except PackageNotFoundError as error:
        pytest.skip(f"the project environment lacks {error}; cannot build the bundle's environment")
    assert "bicpl-hf" not in dists and "pillow" not in dists, sorted(dists)
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for dist in dists.values():
        root = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files or [] if ".." not in Path(f).parts}:
            if (root / top).exists() and not (site / top).exists():
                (site / top).symlink_to(root / top)
    return str(python)


@pytest.fixture(scope="module")
def bundle(model, processor, tmp_path_factory) -> Path:  # noqa: F811 (fixtures from test_hub)
    root = tmp_path_factory.mktemp("monai-run")
    model.save_pretrained(root / "saved")
    processor.save_pretrained(root / "saved")
    export_monai_bundle(root / "saved", root / "bundle")
    return root / "bundle"


def _readme_commands(bundle: Path) -> tuple[list[str], list[list[str]]]:
    text = (bundle / "docs" / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block[0].startswith("pip install ") and block[1] == "cd this_bundle", block
    assert all(line.startswith("python -m monai.bundle ") for line in block[2:]), block
    return block[0].split()[2:], [shlex.split(line) for line in block[2:]]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_documented_commands_run_in_a_clean_venv(model, processor, bundle, tmp_path):  # noqa: F811
    packages, commands = _readme_commands(bundle)
    assert packages == list(BUNDLE_REQUIREMENTS)
    assert {"monai", "torch", "transformers", "SimpleITK", "nibabel", "fire", "jsonschema"} <= set(packages)
    assert [c[3] for c in commands] == ["verify_metadata", "verify_net_in_out", "run", "ckpt_export"]
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert state.keys() == {f"model.{k}" for k in model.state_dict()}

    # The exams named in the README's `run` line, in the bundle folder: a DICOM series and a NIfTI file.
    exams = json.loads(commands[2][commands[2].index("--exams") + 1].replace("'", '"'))
    assert exams == ["exam_dicom_folder", "exam.nii.gz"]
    write_dicom_series(make_head_phantom(lesion_side="right", seed=3).to_sitk(np.int16), bundle / exams[0])
    sitk.WriteImage(make_head_phantom(lesion_side="left", seed=5).to_sitk(), str(bundle / exams[1]))

    python = _linked_venv(tmp_path / "venv", packages)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    probe = subprocess.run([python, "-c", "import importlib.util as u; print([m for m in ('bicpl_hf', 'PIL') "
                            "if u.find_spec(m)])"], capture_output=True, text=True, cwd=bundle, env=env, timeout=60)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    for command in commands:
        assert command[:3] == ["python", "-m", "monai.bundle"]
        done = subprocess.run([python, *command[1:]], cwd=bundle, env=env, capture_output=True, text=True,
                              encoding="utf-8", errors="replace", timeout=300)
        assert done.returncode == 0, (command, done.stdout[-3000:] + done.stderr[-3000:])

    # `run`: each exam's per-ear probabilities, as the model itself gives them.
    predictions = json.loads((bundle / "eval" / "predictions.json").read_text(encoding="utf-8"))
    assert [p["exam"] for p in predictions] == exams
    codes = [str(c) for c in model.config.class_codes]
    for prediction, exam in zip(predictions, exams):
        with torch.no_grad():
            probs = model(pixel_values=processor(volumes=str(bundle / exam))["pixel_values"]).logits.softmax(-1)[0]
        for i, side in enumerate(("left", "right")):
            assert list(prediction[side]) == codes
            np.testing.assert_allclose(list(prediction[side].values()), probs[i].numpy(), atol=1e-5)

    # `ckpt_export`: the traced network gives the same probabilities.
    traced = torch.jit.load(str(bundle / "models" / "model.ts"))
    image = torch.rand(1, *processor(volumes=str(bundle / exams[1]))["pixel_values"].shape[1:]).flatten(1, 2)
    with torch.no_grad():
        expected = model(pixel_values=image.reshape(1, 2, -1, *image.shape[2:])).logits.softmax(-1).reshape(1, -1)
        np.testing.assert_allclose(traced(image).numpy(), expected.numpy(), atol=1e-5)
