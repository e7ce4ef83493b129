"""A saved Bi-CPL repository loads in a REAL separate venv holding exactly the model card's packages (and their
dependencies): no bicpl_hf, no Pillow, no matplotlib. The venv is built once per test session; the test is skipped,
with the reason, when pip cannot reach the wheels."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

# The tiny model, processor and phantom of the hub tests (module fixtures), and their remote-load check.
from test_hub import _run_remote_script, char_tokenizer, model, phantom_path, processor  # noqa: F401

from bicpl_hf.publishing.hub import REMOTE_CODE_REQUIREMENTS, make_model_card

pytestmark = pytest.mark.slow


def distribution_closure(names) -> dict[str, object]:
    """Every distribution `pip install names...` brings in (as installed in THIS environment), by normalised name."""
    found, todo = {}, list(names)
    while todo:
        dist = distribution(todo.pop())
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if name in found:
            continue
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def _build_clean_venv(tmp_path_factory) -> tuple[str | None, str]:
    """`(python, "")`, or `(None, why not)`."""
    try:
        pins = {name: dist.version for name, dist in distribution_closure(REMOTE_CODE_REQUIREMENTS).items()}
    except PackageNotFoundError as error:
        return None, f"the project environment lacks {error}; cannot pin the card's packages"
    assert "pillow" not in pins and "bicpl-hf" not in pins, pins
    folder = tmp_path_factory.mktemp("clean-venv")
    venv.create(folder, with_pip=True)
    python = str(folder / "bin" / "python")
    # --no-deps of the exact versions found here: no resolver run; pip reuses its cache / the local wheel index.
    command = [python, "-m", "pip", "install", "--no-deps", "--no-compile", "--disable-pip-version-check", "-q",
               *[f"{name}=={version}" for name, version in sorted(pins.items())]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        return None, (f"cannot install the card's packages into a clean venv (wheels not reachable?): "
                      f"{result.stderr.strip().splitlines()[-1:] or result.returncode}")
    return python, ""


# Every module that imports `clean_python` registers the fixture anew (pytest keys a fixture by the module that holds
# it), so the venv, or why it cannot be built, is kept here: one per session.
_CLEAN_VENV: list[tuple[str | None, str]] = []


@pytest.fixture(scope="session")
def clean_python(tmp_path_factory) -> str:
    if not _CLEAN_VENV:
        _CLEAN_VENV.append(_build_clean_venv(tmp_path_factory))
    python, why_not = _CLEAN_VENV[0]
    if python is None:
        pytest.skip(why_not)
    return python


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_card_lists_what_the_remote_code_imports(model, tmp_path):  # noqa: F811 (fixtures from test_hub)
    from importlib.metadata import packages_distributions

    from transformers.dynamic_module_utils import get_imports

    from bicpl_hf.modeling import modeling_bicpl
    from bicpl_hf.processing import processing_bicpl
    from bicpl_hf.publishing.hub import pipeline_remote_sources

    paths = [path for module in (modeling_bicpl, processing_bicpl) for path in Path(module.__file__).parent.glob("*.py")]
    for name, source in pipeline_remote_sources().items():  # the zero-shot pipeline's files as a saved model ships them
        paths.append(tmp_path / name)
        paths[-1].write_text(source, encoding="utf-8")
    imported = {name for path in paths for name in get_imports(str(path)) if name not in sys.stdlib_module_names}
    assert {"torch", "yaml", "SimpleITK"} <= imported
    # By distribution: the pipeline's knowledge base imports `yaml`, which pip knows as PyYAML.
    distributions = packages_distributions()
    listed = {_canonical(name) for name in REMOTE_CODE_REQUIREMENTS}
    unlisted = {name for name in imported if not {_canonical(d) for d in distributions.get(name, [name])} & listed}
    assert not unlisted, f"the remote code imports {sorted(unlisted)}, which REMOTE_CODE_REQUIREMENTS does not list"
    assert "nibabel" in listed  # imported inside a function (NIfTI reading), so transformers' import check misses it
    line = next(line for line in make_model_card(model).text.splitlines() if line.startswith("pip install "))
    assert [re.split(r"[<>=!~]", item.strip('"'))[0] for item in line.split()[2:]] == list(REMOTE_CODE_REQUIREMENTS)
    assert "Pillow" not in line and "bicpl" not in line


def test_repository_loads_in_a_clean_venv_with_only_the_card_packages(model, processor, phantom_path,  # noqa: F811
                                                                     tmp_path, clean_python):
    folder = tmp_path / "saved"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run([clean_python, "-c", "import importlib.util as u; print([m for m in ('PIL', 'bicpl_hf', "
                            "'matplotlib') if u.find_spec(m)])"], capture_output=True, text=True, timeout=120, env=env,
                           cwd=tmp_path)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    _run_remote_script(model, processor, folder, phantom_path, tmp_path / "run", python=clean_python)

    # A package of the card missing: transformers' ImportError names it and the pip command.
    missing = ("import sys\n"
               "class Uninstalled:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] == 'SimpleITK':\n"
               "            raise ModuleNotFoundError(\"No module named 'SimpleITK'\", name='SimpleITK')\n"
               "sys.meta_path.insert(0, Uninstalled())\n"
               "from transformers import AutoProcessor\n"
               f"AutoProcessor.from_pretrained({str(folder)!r}, trust_remote_code=True)")
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run([clean_python, "-c", missing], capture_output=True, text=True, timeout=300, env=env,
                            cwd=tmp_path)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0 and last.startswith("ImportError") and "pip install SimpleITK" in last, last
