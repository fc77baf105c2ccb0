"""The self-contained HTML report of a finished run.

:func:`write_report` reads a run directory (``config.yaml``, ``metrics.json``, and optionally ``environment.json``
and ``figures.json``), redraws the learning curves, and writes ``report.html``: one file with inline CSS and every
image embedded as a base64 data URI, so it can be mailed, archived or opened offline. It has no scripts and no
external links, and every value that comes from the run is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from html import escape
from pathlib import Path
from typing import Any

import yaml

from neuralab import __version__
from neuralab.errors import NeuralabError
from neuralab.report.diagnosis import diagnose
from neuralab.report.plots import LEARNING_CURVES, METRICS, plot_learning_curves

__all__ = ["write_report", "write_tune_report", "REPORT"]

logger = logging.getLogger(__name__)

REPORT = "report.html"
SPLITS = ("train", "val", "test")
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}  # GIF: animations
DASH = "\u2014"

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; margin: 0;
       background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 32px 0 8px; font-size: 19px; border-bottom: 1px solid #e3e5e8; padding-bottom: 4px; }
.description { color: #444; margin: 4px 0 8px; white-space: pre-wrap; }
.meta { color: #666; font-size: 13px; }
.note { background: #eef5ff; border-left: 4px solid #3b7ddd; padding: 10px 14px; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid #e3e5e8; padding: 4px 10px; text-align: right; vertical-align: top; }
th { background: #f3f4f6; }
th:first-child, td:first-child { text-align: left; }
table.kv td { text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
tr.best td { background: #fff7d6; }
figure { margin: 12px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
figcaption b { color: #1d1d1f; }
pre { background: #f6f8fa; border: 1px solid #e3e5e8; padding: 12px; overflow-x: auto; font-size: 12.5px; }
details summary { cursor: pointer; color: #3b7ddd; }
.scroll { overflow-x: auto; }
footer { color: #888; font-size: 12px; margin-top: 40px; }
"""


def _read_json(path: Path, *, required: bool) -> Any:
    """Parsed JSON; ``None`` for a missing optional file (a broken optional file is logged and skipped)."""
    if not path.is_file():
        if required:
            raise NeuralabError(f"run directory has no {path.name}: expected {path}; is this a finished run?")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if required:
            raise NeuralabError(f"{path.name} is not valid JSON: {path} ({exc})") from exc
        logger.warning("ignoring %s: not valid JSON (%s)", path, exc)
        return None


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise NeuralabError(f"run directory has no {path.name}: expected {path}; is this a finished run?")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise NeuralabError(f"{path.name} is not valid YAML: {path} ({exc})") from exc
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise NeuralabError(f"{path.name} must hold a mapping; got {type(config).__name__} in {path}")
    return config


def _fmt(value: Any) -> str:
    """A table cell: floats to 4 significant digits, ``None`` as a dash; escaped."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, dict):
        return "<br>".join(f"{escape(str(k))}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return escape(str(value))


def _table(header: list[str], rows: list[list[Any]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _columns(rows: list[dict[str, Any]], first: tuple[str, ...] = ()) -> list[str]:
    """Union of the rows' keys: ``first`` (where present), then in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return [k for k in first if k in seen] + [k for k in seen if k not in first]


FINAL_NOTE = ("These rows are scored once training has ended, in evaluation mode (no dropout, the kept weights); the "
              "learning curves and the diagnosis show each epoch's mean over its batches in training mode, so the "
              "train loss differs between the two.")


def _final_table(final: Any) -> str:
    if not isinstance(final, dict) or not final:
        return "<p>No final metrics were recorded.</p>"
    splits = [s for s in SPLITS if isinstance(final.get(s), dict)]
    splits += [s for s in final if s not in SPLITS and isinstance(final[s], dict)]
    columns = _columns([final[s] for s in splits], first=("loss",))
    return _table(["split", *columns], [[s, *(final[s].get(c) for c in columns)] for s in splits])


def _history_table(history: list[dict[str, Any]], best_epoch: Any) -> str:
    if not history:
        return "<p>No epochs were recorded.</p>"
    columns = _columns(history, first=("epoch",))
    rows = [[logs.get(c) for c in columns] for logs in history]
    best = ["best" if best_epoch is not None and logs.get("epoch") == best_epoch else "" for logs in history]
    table = _table(columns, rows, best)
    return f"<details><summary>Per-epoch history ({len(history)} epochs)</summary>{table}</details>"


def _img(path: Path, title: str, caption: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = MIME[path.suffix.lower()]
    text = f"<b>{escape(title)}</b>" + (f" {DASH} {escape(caption)}" if caption else "")
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{escape(title)}">'
            f"<figcaption>{text}</figcaption></figure>")


def _figure_path(run_dir: Path, name: Any) -> Path | None:
    """The figure file inside ``run_dir``, or ``None`` (logged) when it is missing, outside or not an image."""
    if not isinstance(name, str) or not name:
        logger.warning("figures.json: entry without a 'file' name; skipped")
        return None
    path = (run_dir / name).resolve()
    if not path.is_relative_to(run_dir.resolve()) or not path.is_file() or path.suffix.lower() not in MIME:
        logger.warning("figures.json: %r is not a PNG, JPEG or GIF file inside %s; skipped", name, run_dir)
        return None
    return path


def _title(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").capitalize()


def _extra_figures(run_dir: Path, listed: Any) -> str:
    """figures.json entries in order, then every other top-level PNG (sorted), each once."""
    if listed is not None and not isinstance(listed, list):
        logger.warning("ignoring figures.json: expected a list of {file, title, caption}; got %s",
                       type(listed).__name__)
        listed = None
    shown = {(run_dir / name).resolve() for name in (LEARNING_CURVES, METRICS, REPORT)}
    parts = []
    for entry in listed or []:
        entry = entry if isinstance(entry, dict) else {"file": entry}
        path = _figure_path(run_dir, entry.get("file"))
        if path is None or path in shown:
            continue
        shown.add(path)
        parts.append(_img(path, str(entry.get("title") or _title(path)), str(entry.get("caption") or "")))
    for path in sorted(run_dir.glob("*.png")):
        if path.resolve() not in shown and path.is_file():
            parts.append(_img(path, _title(path)))
    return "".join(parts)


def _meta(metrics: dict[str, Any], environment: dict[str, Any], n_epochs: int) -> str:
    facts = [("task", metrics.get("task")), ("epochs", n_epochs), ("best epoch", metrics.get("best_epoch")),
             ("monitor", metrics.get("monitor")), ("stopped early", metrics.get("stopped_early")),
             ("started", environment.get("started")), ("duration (s)", environment.get("duration_s"))]
    return " &middot; ".join(f"{escape(k)}: {_fmt(v)}" for k, v in facts if v is not None)


def _page(run_dir: Path, config: dict[str, Any], metrics: dict[str, Any], environment: dict[str, Any],
          figures: Any, curves: list[Path], note: str) -> str:
    history = metrics.get("history") or []
    name = str(config.get("name") or run_dir.name)
    description = config.get("description")
    config_yaml = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
    curves_html = "".join(_img(p, _title(p)) for p in curves) or "<p>No learning curves: no epochs were recorded.</p>"
    extras = _extra_figures(run_dir, figures)
    env_rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in environment.items())
    sections = [
        f"<h1>{escape(name)}</h1>",
        f'<p class="description">{escape(str(description))}</p>' if description else "",
        f'<p class="meta">{_meta(metrics, environment, len(history))}</p>',
        "<h2>Final metrics</h2>", _final_table(metrics.get("final")),
        f'<p class="meta">{escape(str(metrics["loss_note"]))} {escape(FINAL_NOTE)}</p>'
        if isinstance(metrics.get("loss_note"), str) else "",
        f'<h2>Diagnosis</h2><p class="note">{escape(note)}</p>',
        "<h2>Learning curves</h2>", curves_html,
        f"<h2>Figures</h2>{extras}" if extras else "",
        "<h2>History</h2>", _history_table(history, metrics.get("best_epoch")),
        f"<h2>Configuration</h2><pre>{escape(config_yaml)}</pre>",
        f'<h2>Environment</h2><table class="kv">{env_rows}</table>' if env_rows else "",
        f"<footer>Generated by neuralab {escape(__version__)} from {escape(run_dir.name)}.</footer>",
    ]
    body = "\n".join(s for s in sections if s)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(name)} {DASH} neuralab report</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body><main>\n{body}\n</main></body>\n</html>\n")


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` for a finished run: metrics, diagnosis, plots, history, config and environment.

    Parameters
    ----------
    run_dir
        The run directory. It must hold ``config.yaml`` and ``metrics.json``; ``environment.json`` and
        ``figures.json`` (``[{"file": ..., "title": ..., "caption": ...}]``, the order of extra figures) are optional.
        ``learning_curves.png`` and ``metrics.png`` are redrawn into it. Other PNGs in the folder are shown after the
        figures that ``figures.json`` lists.

    Returns
    -------
    Path
        ``run_dir / "report.html"``: one self-contained file (inline CSS, base64 images, no scripts or links).

    Raises
    ------
    NeuralabError
        If ``run_dir`` is not a directory, or ``config.yaml`` or ``metrics.json`` is missing or malformed.

    Examples
    --------
    >>> write_report("runs/mnist-cnn")  # doctest: +SKIP
    PosixPath('runs/mnist-cnn/report.html')
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NeuralabError(f"run_dir must be a run directory; got {str(run_dir)!r}, which does not exist")
    metrics = _read_json(run_dir / "metrics.json", required=True)
    config = _read_config(run_dir / "config.yaml")
    if not isinstance(metrics, dict):
        raise NeuralabError(f"metrics.json must hold an object; got {type(metrics).__name__} in {run_dir}")
    history = metrics.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise NeuralabError(f"metrics.json 'history' must be a list of per-epoch objects in {run_dir}")
    environment = _read_json(run_dir / "environment.json", required=False)
    environment = environment if isinstance(environment, dict) else {}
    figures = _read_json(run_dir / "figures.json", required=False)
    best_epoch = metrics.get("best_epoch")
    curves = plot_learning_curves(history, run_dir, best_epoch=best_epoch if isinstance(best_epoch, int) else None)
    note = diagnose(history, monitor=str(metrics.get("monitor") or "val_loss"), mode=str(metrics.get("mode") or "min"),
                    adversarial=metrics.get("adversarial") is True)
    path = run_dir / REPORT
    path.write_text(_page(run_dir, config, metrics, environment, figures, curves, note), encoding="utf-8")
    logger.info("wrote %s", path)
    return path


TUNE_FIGURES = (("history", "Optimisation history", "each trial's score and the best so far"),
                ("importances", "Parameter importances", "how much of the score's variance each value explains "
                 "(fANOVA)"),
                ("parallel", "Parallel coordinates", "every complete trial's values, coloured by its score"))


def write_tune_report(out: str | Path, summary: dict[str, Any]) -> Path:
    """``report.html`` of a hyper-parameter search: the best values, Optuna's three views and every trial."""
    out = Path(out)
    best = summary.get("best_values")
    parts = [f"<h1>Tuning {escape(str(summary.get('study')))}</h1>",
             f'<p class="meta">{summary.get("trials")} trials ({summary.get("complete")} complete, '
             f'{summary.get("pruned")} pruned), sampler {escape(str(summary.get("sampler")))}, pruner '
             f'{escape(str(summary.get("pruner")))}, {escape(str(summary.get("direction")))} '
             f'{escape(str(summary.get("metric")))}' + (f", {summary['cv']}-fold cross-validation"
                                                         if summary.get("cv") else "") +
             ". The test split was never used.</p>"]
    if best:
        parts += [f"<h2>Best: trial {summary.get('best_trial')}, {escape(str(summary.get('metric')))} = "
                  f"{_fmt(summary.get('best_value'))}</h2>", _table(["key", "value"], [[k, v] for k, v in
                                                                                     best.items()]),
                  "<p>These values are in <code>best.yaml</code>, a recipe to train once and score on the test "
                  "split.</p>"]
    for name, title, caption in TUNE_FIGURES:
        if (out / f"{name}.png").is_file():
            parts.append(_img(out / f"{name}.png", title, caption))
    rows = summary.get("rows", [])
    columns = _columns(rows, first=("trial", "state", "value", "seconds"))
    best_trial = summary.get("best_trial")
    parts += ["<h2>Trials</h2>", _table(columns, [[r.get(c) for c in columns] for r in rows],
                                        ["best" if r.get("trial") == best_trial else "" for r in rows])]
    page = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Tuning "
            f"{escape(str(summary.get('study')))}</title><style>{CSS}</style></head><body><main>{''.join(parts)}"
            f"<footer>neuralab {escape(__version__)}</footer></main></body></html>")
    path = out / REPORT
    path.write_text(page, encoding="utf-8")
    return path

