"""Render one synthetic exam per ear class and save PNGs for a visual realism check.

Each PNG shows axial slices through both temporal bones (patient's right on the image's left, as
radiologists read) in the bone window (W4000/L700) and the soft-tissue window (W350/L40), next to the
exam's Chinese report. Chinese text needs a CJK font (e.g. `apt-get install fonts-wqy-microhei`);
without one the report goes to a sidecar `.md` file beside each PNG.

Usage::

    python datasets_scripts/inspect_synthetic.py --out outputs/inspect --size small --seed 0
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np

from bicpl_hf.synthetic import CLASS_NAMES_ZH, ExamSpec, render_exam, sample_cohort, write_synthetic_report

WINDOWS = {"bone W4000/L700": (700.0, 4000.0), "soft W350/L40": (40.0, 350.0)}
LEVELS_MM = {"attic +3.5": 3.5, "vestibule 0": 0.0, "cochlea -2.5": -2.5}
CROP_MM = (-18.0, 30.0, -20.0, 26.0)  # lateral-from-capsule min/max, posterior-from-capsule min/max


def find_cjk_font() -> str | None:
    """Name of an installed font that can draw Chinese, or None."""
    from matplotlib import font_manager

    names = ("WenQuanYi", "Noto Sans CJK", "Noto Serif CJK", "SimHei", "Source Han", "Droid Sans Fallback")
    for entry in font_manager.fontManager.ttflist:
        if any(key in entry.name for key in names):
            return entry.name
    # The font cache may predate the font's installation: look on disk too.
    for path in font_manager.findSystemFonts():
        if any(key in Path(path).name.lower() for key in ("wqy", "notosanscjk", "notoserifcjk", "simhei", "sourcehan")):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


def pick_exams(seed: int) -> dict[int, ExamSpec]:
    """One exam per code, preferring the code on one side with a normal other side."""
    cohort = sample_cohort(400, seed, min_ears_per_code={4: 2})
    chosen: dict[int, ExamSpec] = {}
    for code in CLASS_NAMES_ZH:
        with_code = [e for e in cohort if code in e.codes]
        unilateral = [e for e in with_code if sorted(e.codes) == sorted((code, 5))]
        chosen[code] = (unilateral or with_code)[0]
    return chosen


def _crop(hu: np.ndarray, spacing, origin, centre, side: str, dz_mm: float) -> np.ndarray:
    """Axial crop around an ear: lateral to the left for the right ear (radiological view)."""
    spacing, origin = np.asarray(spacing), np.asarray(origin)
    z = int(round((centre[2] + dz_mm - origin[2]) / spacing[2]))
    z = min(max(z, 0), hu.shape[0] - 1)
    lat_lo, lat_hi, post_lo, post_hi = CROP_MM
    x_range = (centre[0] + lat_lo, centre[0] + lat_hi) if side == "left" else (centre[0] - lat_hi, centre[0] - lat_lo)
    x0, x1 = (int(round((v - origin[0]) / spacing[0])) for v in x_range)
    y0, y1 = (int(round((centre[1] + v - origin[1]) / spacing[1])) for v in (post_lo, post_hi))
    x0, x1, y0, y1 = max(x0, 0), min(x1, hu.shape[2]), max(y0, 0), min(y1, hu.shape[1])
    return hu[z, y0:y1, x0:x1]


def plot_exam(spec: ExamSpec, code: int, size: str, out_dir: Path, font: str | None, seed: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if font:
        plt.rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
        plt.rcParams["axes.unicode_minus"] = False
    exam = render_exam(spec, size)
    findings, impression = write_synthetic_report(spec.left, spec.right, np.random.default_rng([seed, code]))
    centres = exam.ground_truth["capsule_centres_world"]
    levels = dict(LEVELS_MM)
    painted = [(v["volume_mm3"], side, name, v["centre_world"]) for side in ("left", "right")
               for name, v in exam.ground_truth["lesions"][side].items() if v["volume_mm3"]]
    if painted:  # one more row through the biggest lesion
        _, side, name, centre = max(painted)
        levels[f"{side} {name} {centre[2] - centres[side][2]:+.1f}"] = centre[2] - centres[side][2]
    fig = plt.figure(figsize=(22, 3.6 * len(levels)))
    grid = fig.add_gridspec(len(levels), 5, width_ratios=[1, 1, 1, 1, 1.5])
    for row, (level_name, dz) in enumerate(levels.items()):
        column = 0
        for window_name, (level, width) in WINDOWS.items():
            for side in ("right", "left"):
                ax = fig.add_subplot(grid[row, column])
                crop = _crop(exam.hu, exam.spacing, exam.origin, centres[side], side, dz)
                ax.imshow(crop, cmap="gray", vmin=level - width / 2, vmax=level + width / 2,
                          aspect=exam.spacing[1] / exam.spacing[0])
                ear = spec.right if side == "right" else spec.left
                ax.set_title(f"{side} ear (code {ear.code}) {window_name}, {level_name} mm", fontsize=9)
                ax.axis("off")
                column += 1
    text_ax = fig.add_subplot(grid[:, 4])
    text_ax.axis("off")
    summary = [f"exam {spec.exam_id}  codes L={spec.left.code} R={spec.right.code}  ({size})"]
    for side, ear in (("L", spec.left), ("R", spec.right)):
        shown = {k: v for k, v in ear.to_dict().items() if v not in (False, None, 0.0, {}, "intact") and k != "code"}
        summary.append(f"{side}: " + ", ".join(k if v is True else f"{k}={v}" for k, v in shown.items()))
    body = "\n".join(textwrap.fill(s, 60) for s in summary)
    if font:
        body += "\n\n影像所见:\n" + textwrap.fill(findings, 30) + "\n\n检查结论:\n" + textwrap.fill(impression, 30)
    text_ax.text(0.0, 1.0, body, va="top", ha="left", fontsize=10, family="sans-serif", transform=text_ax.transAxes)
    fig.suptitle(f"class {code}: {CLASS_NAMES_ZH[code] if font else ''}", fontsize=13)
    fig.tight_layout()
    path = out_dir / f"class_{code}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    if not font:
        path.with_suffix(".md").write_text(
            f"# class {code} {CLASS_NAMES_ZH[code]} ({spec.exam_id})\n\n## 影像所见\n{findings}\n\n## 检查结论\n{impression}\n",
            encoding="utf-8",
        )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    parser.add_argument("--size", default="small", choices=["tiny", "small", "full"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codes", type=int, nargs="*", default=sorted(CLASS_NAMES_ZH), help="classes to plot")
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    font = find_cjk_font()
    if font is None:
        print("no CJK font found: reports are written to sidecar .md files (apt-get install fonts-wqy-microhei)")
    exams = pick_exams(args.seed)
    for code in args.codes:
        print(plot_exam(exams[code], code, args.size, out_dir, font, args.seed))


if __name__ == "__main__":
    from bicpl_hf.commands.errors import run_command

    sys.exit(run_command(main))
