"""Start-up stays light (issue 23, item 8): what `bicpl --help`, a wrong flag and `import bicpl_hf` import, checked in
fresh processes; and the Auto classes and the pipeline task still find the Bi-CPL classes after a plain
`import bicpl_hf`, whichever of them is used first. Times are measured by `benchmarks/startup_time.py`, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import save_tiny_model

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
# Modules a command line that only parses must not load (each costs seconds); transformers is ~0.7 s itself.
HEAVY = ("torch", "monai", "scipy", "sklearn", "transformers", "datasets", "matplotlib")


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", env=ENV, timeout=300)


def last_json_line(done: subprocess.CompletedProcess):
    assert done.stdout.strip(), done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["--nonsense"], ["diagnose", "--nonsense"], ["diagnose", "--help"],
                                  ["benchmark", "--help"], ["build", "--help"], ["push", "--help"]])
def test_parsing_the_command_line_imports_nothing_heavy(argv):
    done = python(f"""
        import json, sys
        from bicpl_hf.commands.cli import main
        try:
            status = main({argv!r})
        except SystemExit as exit_:  # argparse's --help and usage errors
            status = exit_.code
        print(json.dumps([status, sorted(m for m in {HEAVY!r} if m in sys.modules)]))
    """)
    status, heavy = last_json_line(done)
    assert status == (0 if "--help" in argv else 2), done.stderr[-3000:]
    assert heavy == [], f"bicpl {' '.join(argv)} imported {heavy}"


def test_import_bicpl_hf_imports_nothing_transformers_does_not():
    done = python("""
        import json, subprocess, sys
        import bicpl_hf
        mine = sorted(m for m in sys.modules if m != "bicpl_hf" and not m.startswith("bicpl_hf."))
        theirs = subprocess.run([sys.executable, "-c", "import json, sys, transformers; print(json.dumps(list(sys.modules)))"],
                                capture_output=True, text=True, check=True).stdout
        print(json.dumps(sorted(set(mine) - set(json.loads(theirs)))))
    """)
    assert last_json_line(done) == []


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny model + processor folder, as `save_pretrained` writes it (remote code and `auto_map` included)."""
    folder = tmp_path_factory.mktemp("startup_model")
    save_tiny_model(folder)
    return folder / "model"


# What each fresh process does first; every one must end with the installed package's classes, never remote code.
FIRST_USES = {
    "AutoModel": "import bicpl_hf\nfrom transformers import AutoModel\nresult = AutoModel.from_pretrained(FOLDER)",
    "AutoProcessor": "import bicpl_hf\nfrom transformers import AutoProcessor\n"
                     "result = AutoProcessor.from_pretrained(FOLDER)",
    "AutoImageProcessor": "import bicpl_hf\nfrom transformers import AutoImageProcessor\n"
                          "result = AutoImageProcessor.from_pretrained(FOLDER)",
    "pipeline": "import bicpl_hf\nfrom transformers import pipeline\n"
                "result = pipeline('zero-shot-ear-diagnosis', model=FOLDER).model",
    # transformers' Auto modules loaded before the package: registered at `import bicpl_hf`
    "transformers first": "from transformers import AutoModel, AutoProcessor, pipeline\nimport bicpl_hf\n"
                          "AutoProcessor.from_pretrained(FOLDER)\nresult = AutoModel.from_pretrained(FOLDER)",
    # the configuration module loads `configuration_auto` half-way through its own import
    "configuration first": "from bicpl_hf.modeling.configuration_bicpl import BiCPLConfig\n"
                           "from transformers import AutoConfig, AutoModel\n"
                           "assert type(AutoConfig.for_model('bicpl')) is BiCPLConfig\n"
                           "result = AutoModel.from_config(AutoConfig.from_pretrained(FOLDER))",
    # another model's modules (`modeling_layers`) load `modeling_auto` half-way through their own import
    "another model first": "import bicpl_hf\nfrom transformers import BertModel, AutoModel\n"
                           "result = AutoModel.from_pretrained(FOLDER)",
}
EXPECTED = {"AutoProcessor": "BiCPLProcessor", "AutoImageProcessor": "BiCPLVolumeProcessor"}


@pytest.mark.slow
@pytest.mark.parametrize("first_use", sorted(FIRST_USES))
def test_auto_classes_find_the_package_after_a_plain_import(first_use, saved_model):
    done = python(f"""
        import json, sys
        FOLDER = {str(saved_model)!r}
        {textwrap.indent(FIRST_USES[first_use], " " * 8).strip()}
        import bicpl_hf
        expected = getattr(bicpl_hf, {EXPECTED.get(first_use, "BiCPLModel")!r})
        print(json.dumps([type(result).__module__, type(result) is expected]))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    module, is_the_package_class = last_json_line(done)
    assert is_the_package_class and module.startswith("bicpl_hf."), module


def test_the_model_is_not_imported_to_be_registered():
    """`from transformers import AutoModel` after `import bicpl_hf` does not load the model (and MONAI)."""
    done = python("""
        import json, sys
        import bicpl_hf
        from transformers import CONFIG_MAPPING, AutoModel, AutoProcessor
        from bicpl_hf import BiCPLConfig
        print(json.dumps([CONFIG_MAPPING["bicpl"] is BiCPLConfig,
                          sorted(m for m in ("bicpl_hf.modeling.modeling_bicpl", "monai") if m in sys.modules)]))
    """)
    assert last_json_line(done) == [True, []], done.stderr[-3000:]


def test_importing_the_model_installs_what_the_package_adds_to_saving():
    """`publishing.hub` fills the model's and processor's save / push hooks (card, prototypes, pipeline code)."""
    done = python("""
        import json
        from bicpl_hf import BiCPLModel, BiCPLProcessor
        print(json.dumps([bool(BiCPLModel.extra_file_writers), bool(BiCPLProcessor.extra_file_writers),
                          BiCPLModel.hub_pusher is not None]))
    """)
    assert last_json_line(done) == [True, True, True], done.stderr[-3000:]
