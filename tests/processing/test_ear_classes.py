"""The class table (`processing/ear_classes.py`) is the one owner: an edit there reaches every consumer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bicpl_hf
from bicpl_hf.processing.ear_classes import EAR_CLASSES, EarClass, check_class_table
from bicpl_hf.processing.report_lexicon import CODE_PRIORITY, DISEASE_CODES, check_disease_codes

PACKAGE = Path(bicpl_hf.__file__).parent


def test_modeling_reads_the_same_file_and_module():
    import bicpl_hf.modeling.configuration_bicpl as configuration
    import bicpl_hf.modeling.ear_classes as modeling_classes
    import bicpl_hf.processing.ear_classes as processing_classes

    assert os.path.samefile(PACKAGE / "modeling" / "ear_classes.py", PACKAGE / "processing" / "ear_classes.py")
    assert modeling_classes is processing_classes
    assert configuration.DEFAULT_CLASS_NAMES_EN == [c.name_en for c in EAR_CLASSES]


@pytest.mark.parametrize(
    "classes, normal_code, frozen, message",
    [
        pytest.param(EAR_CLASSES + (EarClass(1, "重复", "dup", "dup"),), 5, (4,), r"code\(s\) \[1\]", id="repeated-code"),
        pytest.param(EAR_CLASSES + (EarClass(7, "胆脂瘤", "dup", "dup"),), 5, (4,), "胆脂瘤", id="repeated-name"),
        pytest.param(EAR_CLASSES, 9, (4,), "NORMAL_CODE 9", id="unknown-normal-code"),
        pytest.param(EAR_CLASSES, 5, (4, 8), r"DEFAULT_FROZEN_CODES \[8\]", id="unknown-frozen-code"),
    ],
)
def test_class_table_check_names_the_bad_entry(classes, normal_code, frozen, message):
    with pytest.raises(ValueError, match=message):
        check_class_table(classes, normal_code, frozen)


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"disease_codes": {**DISEASE_CODES, "鼓室硬化": 9}}, "鼓室硬化", id="term-of-unknown-code"),
        pytest.param({"disease_codes": {**DISEASE_CODES, "中耳胆脂瘤": 3}}, "contradict the class table",
                     id="class-name-with-another-code"),
        pytest.param({"code_priority": [c for c in CODE_PRIORITY if c != 4]}, r"does not rank code\(s\) \[4\]",
                     id="priority-misses-a-code"),
        pytest.param({"code_priority": [*CODE_PRIORITY, 2]}, "at most once", id="priority-repeats-a-code"),
        pytest.param({"class_codes": [1, 2, 3, 5, 6]}, "not classes", id="class-removed-from-the-table"),
    ],
)
def test_lexicon_is_checked_against_the_class_table(overrides, message):
    check_disease_codes()  # the shipped lexicon agrees with the shipped table
    with pytest.raises(ValueError, match=message):
        check_disease_codes(**overrides)


CONSUMERS_SCRIPT = r"""
import sys
import bicpl_hf
assert bicpl_hf.__file__.startswith(sys.argv[1]), bicpl_hf.__file__
from bicpl_hf import BiCPLConfig
from bicpl_hf.data.export_table import ExportTableError, parse_label_cell
from bicpl_hf.metrics.plots import CLASS_NAMES_EN
from bicpl_hf.modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
from bicpl_hf.processing.report_lexicon import check_disease_codes
from bicpl_hf.synthetic import CLASS_NAMES_ZH, EAR_CODE_FREQUENCIES

config = BiCPLConfig(class_prompts={**DEFAULT_CLASS_PROMPTS, "7": ["鼓室硬化，听骨链固定。检查结论：鼓室硬化。"]})
assert config.class_codes == [1, 2, 3, 4, 5, 6, 7], config.class_codes
assert config.class_names[6] == "鼓室硬化" and config.class_names_en[6] == "tympanosclerosis", config.class_names
assert config.class_names_en[2] == "otitis media with effusion", config.class_names_en
assert config.frozen_prototype_codes == [4] and config.normal_code == 5
assert CLASS_NAMES_EN["分泌性中耳炎"] == "OME" and CLASS_NAMES_EN["鼓室硬化"] == "TS", CLASS_NAMES_EN
assert parse_label_cell("7：鼓室硬化", where="cell") == 7 and parse_label_cell(7.0, where="cell") == 7
try:
    parse_label_cell("3:鼓室硬化", where="cell")
    raise SystemExit("a label cell naming code 7 under code 3 was accepted")
except ExportTableError as error:
    assert "code 7" in str(error), error
assert CLASS_NAMES_ZH[7] == "鼓室硬化" and EAR_CODE_FREQUENCIES[7] == 0.0
check_disease_codes()
print("CONSUMERS-OK")
"""


def test_one_edit_of_the_class_table_reaches_every_consumer(tmp_path):
    """Copy the package, rename one English name and add a class in the table only, and read every consumer."""
    copy = tmp_path / "bicpl_hf"
    shutil.copytree(PACKAGE, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    table = copy / "processing" / "ear_classes.py"
    source = table.read_text(encoding="utf-8")
    som = 'EarClass(3, "分泌性中耳炎", "secretory otitis media", "SOM", frequency=0.127),'
    other = 'EarClass(6, "其他", "other", "other", aliases_zh=("其它",), frequency=0.089),'
    assert som in source and other in source
    source = source.replace(som, som.replace('"secretory otitis media", "SOM"', '"otitis media with effusion", "OME"'))
    source = source.replace(other, other + '\n    EarClass(7, "鼓室硬化", "tympanosclerosis", "TS", frequency=0.0),')
    table.write_text(source, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", CONSUMERS_SCRIPT, str(copy)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "CONSUMERS-OK" in result.stdout
