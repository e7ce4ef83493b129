"""A file this user may not read is reported as "permission denied", checked as a real unprivileged user.

Root reads every file whatever its mode, so under root the check runs in a subprocess dropped to `nobody` with
`setpriv`; where that is impossible it is skipped with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

NOBODY = 65534
READ = """
import sys
from bicpl_hf.processing.volume_io import read_volume
try:
    read_volume(sys.argv[1])
except ValueError as error:
    print(error)
    sys.exit(2)
"""


def _as_user_command() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is not installed: cannot drop to an unprivileged user")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def test_unreadable_nifti_is_permission_denied_for_a_real_user():
    prefix = _as_user_command()
    folder = Path(tempfile.mkdtemp(prefix="bicpl-perm-"))
    try:
        folder.chmod(0o755)  # the user may list the folder, not read the file
        path = folder / "ct.nii.gz"
        sitk.WriteImage(sitk.GetImageFromArray(np.full((8, 8, 8), -1000, np.int16)), str(path))
        path.chmod(0)
        env = {**os.environ, "MPLCONFIGDIR": str(folder / "mpl"), "HOME": str(folder)}
        done = subprocess.run([*prefix, sys.executable, "-c", READ, str(path)], capture_output=True, text=True, encoding="utf-8",
                              env=env, cwd=folder, timeout=300)
        if prefix and "Permission denied" in done.stderr and "python" in done.stderr.lower() and done.returncode == 1:
            pytest.skip(f"the unprivileged user cannot run this interpreter: {done.stderr.strip()[-200:]}")
        assert done.returncode == 2, done.stderr[-2000:]
        assert "permission denied" in done.stdout and str(path) in done.stdout
        assert "does not exist" not in done.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
