"""Is a cached export what the current generator writes? A cheap check that lets a benchmark cache survive edits of
the generator's source that do not change its output (a progress bar, a refactor), and catches those that do.

Every report row is re-written (no rendering: seconds) and compared with the export's ground truth; `n_render`
exams, spread over the cohort, are re-rendered into a scratch folder and their DICOM files compared byte for byte.

Example:
    >>> mismatch = export_mismatch("cache/data-KEY/export", n_exams=600, size="benchmark", seed=1001,
    ...                            min_ears_per_code={2: 190, 4: 55})  # doctest: +SKIP
    >>> mismatch is None  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np


def export_mismatch(export_root: str | Path, *, n_exams: int, size: str, seed: int,
                    min_ears_per_code: dict[int, int] | None, n_render: int = 4) -> str | None:
    """None when the export at `export_root` matches the current generator (every report, `n_render` exams' DICOM
    bytes), else a sentence saying what differs."""
    from .cohort import sample_cohort
    from .export import _exam_job
    from .reports import pick_report_style, write_synthetic_report

    root = Path(export_root)
    truth = json.loads((root / "ground_truth.json").read_text(encoding="utf-8"))
    exams = {e["exam_id"]: e for e in truth["exams"]}
    specs = sample_cohort(n_exams, seed, min_ears_per_code)
    if sorted(exams) != sorted(s.exam_id for s in specs):
        return "the cohort's exam ids differ"
    for index, spec in enumerate(specs):
        report_rng = np.random.default_rng([seed, 7, index])  # as `make_synthetic_export` draws it
        style = pick_report_style(report_rng)
        findings, impression = write_synthetic_report(spec.left, spec.right, report_rng, style=style)
        if exams[spec.exam_id]["report"] != {"findings": findings, "impression": impression}:
            return f"the report of exam {spec.exam_id} differs"
    rendered = [s for s in specs if exams[s.exam_id].get("dicom_dates")]
    picks = [rendered[i] for i in np.linspace(0, len(rendered) - 1, min(n_render, len(rendered))).astype(int)]
    with tempfile.TemporaryDirectory() as scratch:
        for spec in picks:
            dates = exams[spec.exam_id]["dicom_dates"]
            _exam_job(spec, size, scratch, seed, dates)
            written = sorted(p.relative_to(scratch) for p in Path(scratch).rglob("*") if p.is_file())
            for relative in written:
                cached = root / "dicom" / relative
                if not cached.is_file() or cached.read_bytes() != (Path(scratch) / relative).read_bytes():
                    return f"the DICOM file {relative} of exam {spec.exam_id} differs"
            for path in Path(scratch).rglob("*"):
                if path.is_file():
                    path.unlink()
    return None


__all__ = ["export_mismatch"]
