"""The demo's results page: one markdown file and the same content as HTML, with the tables and the pictures."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ReportSection:
    title: str
    markdown: str = ""
    images: list[tuple[str, str]] = field(default_factory=list)  # (relative path, caption)


def _markdown_table_to_html(block: str) -> str:
    rows = [line.strip().strip("|").split("|") for line in block.strip().splitlines()]
    rows = [r for r in rows if not all(set(c.strip()) <= set("-: ") for c in r)]
    head, body = rows[0], rows[1:]
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>" for r in body]
    return "\n".join(out + ["</table>"])


def _markdown_to_html(text: str) -> str:
    """Enough markdown for the report: tables, bullet lists, code spans, paragraphs."""
    parts = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        if not lines:
            continue
        if all(line.strip().startswith("|") for line in lines):
            parts.append(_markdown_table_to_html(block))
        elif all(line.strip().startswith(("- ", "* ")) for line in lines):
            items = "".join(f"<li>{_inline(line.strip()[2:])}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        elif block.startswith("```"):
            parts.append(f"<pre>{html.escape(block.strip('`'))}</pre>")
        else:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


def write_results_page(sections: list[ReportSection], directory: str | Path, title: str) -> tuple[Path, Path]:
    """Write `report.md` and `report.html` into `directory` (image paths relative to it)."""
    directory = Path(directory)
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        md += [f"## {section.title}", "", section.markdown.strip(), ""]
        body += [f"<h2>{html.escape(section.title)}</h2>", _markdown_to_html(section.markdown)]
        for path, caption in section.images:
            md += [f"![{caption}]({path})", "", f"*{caption}*", ""]
            body.append(f'<figure><img src="{html.escape(path)}" style="max-width:100%"><figcaption>'
                        f"{html.escape(caption)}</figcaption></figure>")
    md_path = directory / "report.md"
    md_path.write_text("\n".join(md), encoding="utf-8")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #999;padding:3px 6px}figure{margin:12px 0}")
    html_path = directory / "report.html"
    html_path.write_text(f"<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>{html.escape(title)}"
                         f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>", encoding="utf-8")
    return md_path, html_path


# The name before the results page had its own; kept so old callers keep working.
write_report = write_results_page

__all__ = ["ReportSection", "write_report", "write_results_page"]
