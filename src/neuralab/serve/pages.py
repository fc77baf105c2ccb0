"""The server's pages: plain HTML, CSS and JavaScript in one string each, nothing fetched from elsewhere."""

from __future__ import annotations

import json
from html import escape
from typing import Any

__all__ = ["index_page", "model_page"]

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d1d1f; }
main { max-width: 900px; margin: 0 auto; padding: 24px 32px; background: #fff; min-height: 100vh; }
a { color: #3b7ddd; } table { border-collapse: collapse; } td, th { border: 1px solid #e3e5e8; padding: 4px 10px; }
canvas { border: 1px solid #999; touch-action: none; background: #000; }
.bar { height: 18px; background: #3b7ddd; color: #fff; padding-left: 6px; font-size: 13px; margin: 3px 0; }
textarea { width: 100%; height: 110px; font-family: ui-monospace, monospace; }
button { font-size: 15px; padding: 4px 14px; margin: 6px 6px 6px 0; } pre { background: #f6f8fa; padding: 10px; }
"""


def _page(title: str, body: str, script: str = "") -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><main>{body}</main>"
            + (f"<script>{script}</script>" if script else "") + "</body></html>")


def index_page(models: list[dict[str, Any]]) -> str:
    rows = "".join(f'<tr><td><a href="/models/{escape(m["name"])}/page">{escape(m["name"])}</a></td>'
                   f'<td>{escape(m["task"])}</td><td>{escape(str(m["recipe"]))}</td></tr>' for m in models)
    return _page("neuralab models", "<h1>neuralab models</h1><table><tr><th>model</th><th>task</th><th>recipe</th>"
                 f'</tr>{rows}</table><p><a href="/docs">API documentation</a> · <a href="/metrics">metrics</a></p>')


DRAW = """
const size = SIDE, canvas = document.getElementById('pad'), ctx = canvas.getContext('2d');
let drawing = false;
ctx.lineWidth = 22; ctx.lineCap = 'round'; ctx.strokeStyle = '#fff';
function at(e) { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
canvas.addEventListener('pointerdown', e => {
  drawing = true; const [x, y] = at(e); ctx.beginPath(); ctx.moveTo(x, y); });
canvas.addEventListener('pointermove', e => {
  if (!drawing) return; const [x, y] = at(e); ctx.lineTo(x, y); ctx.stroke(); });
window.addEventListener('pointerup', () => { if (drawing) { drawing = false; predict(); } });
document.getElementById('clear').onclick = () => { ctx.clearRect(0, 0, canvas.width, canvas.height);
  document.getElementById('bars').innerHTML = ''; };
function pixels() {
  const small = document.createElement('canvas'); small.width = size; small.height = size;
  const s = small.getContext('2d'); s.drawImage(canvas, 0, 0, size, size);
  const data = s.getImageData(0, 0, size, size).data, row = [];
  for (let i = 0; i < data.length; i += 4) row.push(data[i] * SCALE / 255);
  return row;
}
async function predict() {
  const response = await fetch(URL, {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({inputs: [pixels()]})});
  const result = await response.json(), bars = document.getElementById('bars');
  if (!response.ok) { bars.textContent = result.detail; return; }
  const row = result.rows[0], probs = Object.keys(row).filter(k => k.startsWith('p_'))
    .map(k => [k.slice(2), row[k]]).sort((a, b) => b[1] - a[1]).slice(0, 3);
  bars.innerHTML = probs.map(([c, p]) =>
    `<div class="bar" style="width:${Math.max(4, p * 100)}%">${c}: ${(p * 100).toFixed(1)}%</div>`).join('');
  document.getElementById('answer').textContent = row.prediction ?? '';
}
"""

TEXT = """
document.getElementById('go').onclick = async () => {
  const lines = document.getElementById('inputs').value.split('\\n').map(s => s.trim()).filter(Boolean);
  const inputs = lines.map(l => l.startsWith('[') ? JSON.parse(l) : l);
  const response = await fetch(URL, {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({inputs})});
  document.getElementById('out').textContent = JSON.stringify(await response.json(), null, 1);
};
"""


def model_page(model: dict[str, Any]) -> str:
    name = model["name"]
    url = json.dumps(f"/models/{name}/predict")
    head = (f"<h1>{escape(name)}</h1><p>{escape(model['task'])} · recipe {escape(str(model['recipe']))} · "
            f"model {escape(str(model['model']))}</p>")
    size = model.get("image_size")  # a CNN's (H, W); an MLP's square rows by their width
    side = (size[0] if isinstance(size, list) else size) if size else \
        {64: 8, 784: 28}.get(model.get("in_features") or 0)
    if model["task"] == "classification" and side:
        scale = 16 if model.get("inputs") == "digits" else 255  # the digits' pixels are 0..16, MNIST's 0..255
        body = (head + '<p>Draw a digit, release to predict.</p><canvas id="pad" width="280" height="280"></canvas>'
                '<div><button id="clear">clear</button> prediction: <b id="answer"></b></div><div id="bars"></div>')
        script = DRAW.replace("SIDE", str(side)).replace("SCALE", str(scale)).replace("URL", url)
        return _page(name, body, script)
    hint = {"regression": "One SMILES per line, e.g. CCO",
            "recommendation": "One USER:ITEM pair per line, e.g. 196:242"}
    body = (head + f"<p>{escape(hint.get(model['task'], 'One input per line: a JSON list of numbers, or text.'))}</p>"
            '<textarea id="inputs"></textarea><button id="go">predict</button><pre id="out"></pre>')
    return _page(name, body, TEXT.replace("URL", url))
