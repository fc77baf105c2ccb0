"""The short HTML page every lab experiment writes beside its figures: the idea, the formula, what to look for,
the figures (embedded) and a table of the numbers. Self-contained: inline CSS, images as data URIs, no scripts."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from neuralab.i18n import _, language

__all__ = ["write_page"]

CSS = """
body { font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 0;
       background: #f6f7f9; }
main { max-width: 980px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { margin: 0 0 6px; font-size: 25px; } h2 { font-size: 18px; margin: 26px 0 8px; }
.formula { font-family: "STIX Two Math", "Cambria Math", serif; font-size: 17px; background: #f6f8fa;
           border: 1px solid #e3e5e8; padding: 10px 14px; }
.look { background: #eef5ff; border-left: 4px solid #3b7ddd; padding: 10px 14px; }
figure { margin: 14px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #e3e5e8; padding: 4px 10px; }
th { background: #f3f4f6; } pre { background: #f6f8fa; border: 1px solid #e3e5e8; padding: 12px; font-size: 14px; }
footer { color: #888; font-size: 12px; margin-top: 32px; }
"""
MIME = {".png": "image/png", ".gif": "image/gif"}


def write_page(out: Path, *, title: str, idea: str, formulas: Sequence[str], look_for: Sequence[str],
               figures: Sequence[tuple[Path, str]], table: tuple[list[str], list[list[Any]]] | None = None,
               seed: int | None = None, worked: Sequence[str] = ()) -> Path:
    """``out/index.html``. ``formulas`` are plain text (Unicode maths), ``worked`` the lines of a worked example;
    every string is HTML-escaped."""
    headings = {"formula": _("The formula"), "worked": _("Worked example"), "look": _("What to look for"),
                "numbers": _("Numbers"), "seed": _("seed")}
    parts = [f"<h1>{escape(title)}</h1>", f"<p>{escape(idea)}</p>", f"<h2>{escape(headings['formula'])}</h2>"]
    parts += [f'<div class="formula">{escape(f)}</div>' for f in formulas]
    if worked:
        parts += [f"<h2>{escape(headings['worked'])}</h2>", "<pre>" + escape("\n".join(worked)) + "</pre>"]
    parts += [f"<h2>{escape(headings['look'])}</h2>", '<div class="look"><ul>' +
              "".join(f"<li>{escape(item)}</li>" for item in look_for) + "</ul></div>"]
    for path, caption in figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:{MIME[path.suffix]};base64,{data}" alt="{escape(caption)}">'
                     f"<figcaption>{escape(caption)}</figcaption></figure>")
    if table is not None:
        header, rows = table
        head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
        parts.append(f"<h2>{escape(headings['numbers'])}</h2><table><tr>{head}</tr>{body}</table>")
    footer = f"{headings['seed']} {seed}" if seed is not None else ""
    lang = "pt-BR" if language() == "pt_BR" else "en"
    page = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><main>{''.join(parts)}<footer>{escape(footer)}</footer></main>"
            "</body></html>")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
