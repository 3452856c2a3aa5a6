"""Results files of a folder run: ``results.jsonl``, ``results.csv`` and ``index.html``.

Every record has exactly :data:`RECORD_KEYS`. In the CSV, ``regions`` is the JSON list and a
null is an empty cell. The HTML page has no external assets: one table, a thumbnail of each
overlay (or heatmap with ``--no-overlay``), sortable by clicking a column header (score,
descending, on load).
"""
from __future__ import annotations

import csv
import html
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..io.atomic import atomic_write_text

RECORD_KEYS: tuple[str, ...] = ("file", "status", "error", "width", "height", "score", "decision",
                                "area_fraction", "regions", "model", "version", "seconds")


def make_record(file: str, **fields: Any) -> dict[str, Any]:
    """A record with exactly :data:`RECORD_KEYS` (missing fields are null)."""
    unknown = set(fields) - set(RECORD_KEYS)
    if unknown:
        raise ValueError(f"unknown record fields: {sorted(unknown)}")
    return {k: (file if k == "file" else fields.get(k)) for k in RECORD_KEYS}


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of an existing results.jsonl; a torn last line (killed run) is ignored."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "file" in rec:
            out.append(make_record(rec["file"], **{k: rec.get(k) for k in RECORD_KEYS if k != "file"}))
    return out


def record_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(record_line(r) for r in records))


def write_csv(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RECORD_KEYS)
    for r in records:
        row = []
        for k in RECORD_KEYS:
            v = r.get(k)
            if v is None:
                row.append("")
            elif k == "regions":
                row.append(json.dumps(v, separators=(",", ":")))
            elif isinstance(v, bool):
                row.append("true" if v else "false")
            else:
                row.append(v)
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>inpaintscope detect: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 6px 10px; text-align: left; vertical-align: middle; }}
th {{ cursor: pointer; background: #eee; position: sticky; top: 0; user-select: none; }}
th.asc::after {{ content: " \\25B2"; }} th.desc::after {{ content: " \\25BC"; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.flag td.dec {{ color: #b00; font-weight: bold; }}
tr.error td {{ color: #888; }}
img {{ max-width: 320px; max-height: 240px; display: block; }}
</style></head><body>
<h1>inpaintscope detect</h1>
<p>{summary} Click a column header to sort.</p>
<table id="results"><thead><tr>
<th data-type="text">picture</th><th data-type="text">file</th><th data-type="num">score</th>
<th data-type="text">decision</th><th data-type="num">area</th><th data-type="num">regions</th>
<th data-type="num">size (px)</th><th data-type="num">seconds</th><th data-type="text">status</th>
</tr></thead><tbody>
{rows}
</tbody></table>
<script>
(function () {{
  var table = document.getElementById("results"), heads = table.tHead.rows[0].cells;
  function key(row, i, num) {{
    var v = row.cells[i].getAttribute("data-v");
    if (v === null) v = row.cells[i].textContent;
    if (!num) return v.toLowerCase();
    var f = parseFloat(v); return isNaN(f) ? -Infinity : f;
  }}
  function sortBy(i, desc) {{
    var num = heads[i].getAttribute("data-type") === "num", body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {{
      var x = key(a, i, num), y = key(b, i, num);
      return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
    }});
    rows.forEach(function (r) {{ body.appendChild(r); }});
    for (var j = 0; j < heads.length; j++) heads[j].className = "";
    heads[i].className = desc ? "desc" : "asc";
  }}
  for (var i = 0; i < heads.length; i++) (function (i) {{
    heads[i].addEventListener("click", function () {{ sortBy(i, heads[i].className !== "desc"); }});
  }})(i);
  sortBy(2, true);
}})();
</script>
</body></html>
"""


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def write_index_html(path: str | os.PathLike, rows: Sequence[tuple[dict[str, Any], str | None]], *,
                     summary: str = "") -> None:
    """``rows``: (record, picture path relative to the page or None)."""
    out = []
    for rec, picture in rows:
        ok = rec.get("status") == "ok"
        cls = ("flag" if rec.get("decision") else "") if ok else "error"
        pic = (f'<a href="{quote(picture)}"><img loading="lazy" src="{quote(picture)}" alt=""></a>'
               if picture else "")
        score = rec.get("score")
        n_regions = len(rec.get("regions") or []) if ok else None
        size = f"{rec['width']}×{rec['height']}" if rec.get("width") else ""
        pixels = (rec["width"] * rec["height"]) if rec.get("width") and rec.get("height") else ""
        status = "ok" if ok else f"error: {rec.get('error') or ''}"
        decision = "" if not ok else ("inpainted" if rec.get("decision") else "clean")
        out.append(
            f'<tr class="{cls}"><td>{pic}</td><td>{html.escape(str(rec.get("file")))}</td>'
            f'<td class="num" data-v="{_fmt(score, ".6f")}">{_fmt(score, ".3f")}</td>'
            f'<td class="dec">{decision}</td>'
            f'<td class="num" data-v="{_fmt(rec.get("area_fraction"), ".6f")}">{_fmt(rec.get("area_fraction"), ".2%")}</td>'
            f'<td class="num">{"" if n_regions is None else n_regions}</td>'
            f'<td class="num" data-v="{pixels}">{size}</td>'
            f'<td class="num">{_fmt(rec.get("seconds"), ".2f")}</td><td>{html.escape(status)}</td></tr>')
    atomic_write_text(path, _PAGE.format(title=html.escape(str(Path(path).parent.name)),
                                         summary=html.escape(summary), rows="\n".join(out)))
