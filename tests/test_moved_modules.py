"""Old module paths of the package root keep working: same module object as the new path, one FutureWarning."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import bicpl_hf
from bicpl_hf._moved_modules import MOVED_MODULES, SHARED_MODULES


def _forget(name: str) -> None:
    """Drop the old name (and the package attribute) so the next import goes through the finder again."""
    sys.modules.pop(name, None)
    parent, _, child = name.rpartition(".")
    vars(sys.modules[parent]).pop(child, None)


@pytest.mark.parametrize("old_name", sorted(MOVED_MODULES))
def test_old_path_is_the_new_module_and_warns_once(old_name):
    new_name = MOVED_MODULES[old_name]
    new_module = importlib.import_module(new_name)
    _forget(old_name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_module = importlib.import_module(old_name)
        again = importlib.import_module(old_name)
    assert old_module is new_module and again is new_module
    assert new_module.__spec__.name == new_name and new_module.__name__ == new_name
    moved = [w for w in caught if issubclass(w.category, FutureWarning)]
    assert len(moved) == 1 and new_name in str(moved[0].message) and old_name in str(moved[0].message)


def test_warning_points_at_the_import_statement():
    _forget("bicpl_hf.hub")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from bicpl_hf.hub import save_bundle
    assert save_bundle is bicpl_hf.save_bundle
    assert [w.filename for w in caught if issubclass(w.category, FutureWarning)] == [__file__]


def test_patching_the_old_path_patches_the_module_the_package_uses(monkeypatch):
    import bicpl_hf.zero_shot.prototypes as prototypes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import bicpl_hf.prototypes as old_prototypes
    monkeypatch.setattr(old_prototypes, "PROMPTS_FILE", "patched.json")
    assert prototypes.PROMPTS_FILE == "patched.json"


def test_shared_modules_are_one_module_without_a_warning():
    for old_name, new_name in SHARED_MODULES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            assert importlib.import_module(old_name) is importlib.import_module(new_name)


def test_old_package_level_names_keep_working():
    from bicpl_hf.training import BiCPLDataCollator, build_trainer, codes_absent_from
    from bicpl_hf.training.recipe import BiCPLDataCollator as collator
    from bicpl_hf.training.recipe import build_trainer as trainer
    from bicpl_hf.zero_shot import diagnose, upsampled_asymmetry_map

    assert (BiCPLDataCollator, build_trainer) == (collator, trainer) and callable(codes_absent_from)
    assert callable(diagnose) and callable(upsampled_asymmetry_map)
    import bicpl_hf.training

    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        bicpl_hf.training.nonexistent


def _imported_modules(path, package: str) -> set[str]:
    """Absolute names of the modules a source file imports (relative imports resolved against `package`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_the_package_imports_no_old_path():
    root = Path(bicpl_hf.__file__).parent
    offenders = {}
    for path in sorted(root.rglob("*.py")):
        if path.is_symlink():
            continue
        relative = path.relative_to(root.parent).with_suffix("")
        package = ".".join(relative.parts if path.name == "__init__.py" else relative.parts[:-1])
        package = package.removesuffix(".__init__")
        old = sorted(_imported_modules(path, package) & set(MOVED_MODULES))
        if old:
            offenders[str(relative)] = old
    assert offenders == {}


def test_import_bicpl_hf_stays_light():
    script = "import sys, bicpl_hf; print(sorted({'transformers.trainer', 'peft'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


def test_no_command_module_imports_another():
    """Commands share what they share through the layers below them (`bicpl_hf.training.run_setup`, ...); `cli.py`
    is the one module that imports each command (to register its parser)."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "bicpl_hf" / "commands"
    commands = {p.stem for p in folder.glob("*.py")} - {"__init__", "cli", "errors", "devices"}  # shared helpers
    offenders = []
    for path in sorted(folder.glob("*.py")):
        if path.stem in ("cli", "__init__"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and (node.module or "") in commands:
                offenders.append(f"{path.name} imports .{node.module}")
    assert not offenders, offenders
