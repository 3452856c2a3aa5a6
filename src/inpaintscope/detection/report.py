"""Per-image records and the results files of a folder run: ``results.jsonl``, ``results.csv``, ``index.html``.

One record per image, built by :func:`detection_record` (the only place a record is made: the
CLI, the demo and any server share it). Every record has exactly :data:`RECORD_KEYS`:

==============================  =====================================================================
``file``                        the input as given (``-`` for stdin); bytes of a file name that are
                                not UTF-8 appear as ``\\xNN``, so the record is always valid UTF-8
``status``, ``error``           ``"ok"`` and null, or ``"error"`` and a one-line reason
``decision``                    true = called inpainted (``score >= image_threshold``), false = clean
``score``                       image-level probability of inpainting, in [0, 1]
``pixel_threshold``             probability at which a pixel enters the mask and the regions
``image_threshold``             score at which the image is called inpainted
``area_fraction``               fraction of pixels at or above the pixel threshold
``regions``                     boxes ``{x0, y0, x1, y1, area, mean_probability, max_probability}``
                                of an image called inpainted (empty for a clean one)
``regions_below_image_threshold``  the same boxes of an image called clean (not detections)
``cues``                        opt-in cues used (``["autoencoder"]`` or ``[]``)
``regenerated``                 with the autoencoder cue: true when the whole frame reads as decoder
                                output (a latent-diffusion pipeline's raw result); otherwise null
``width``, ``height``           image size in pixels (after EXIF orientation)
``mask``, ``heatmap``,          the pictures written, as paths relative to the output folder
``overlay``                     (null when not written)
``output_sha256``               ``{kind: sha256}`` of those pictures (what a resume verifies)
``input_size``,                 fingerprint of the input read: bytes, modification time (ns; null
``input_mtime_ns``,             for stdin) and SHA-256 of the content
``input_sha256``
``model``, ``version``          the detector (name:file@sha256-prefix) and inpaintscope's version
``seconds``                     time spent on the image (reading, detection, writing its pictures)
==============================  =====================================================================

Error records carry the thresholds and model that were asked for and, when the input could be
read, its fingerprint; the result fields are null. No number in a record is NaN or infinite
(:func:`detection_record` refuses them), so ``results.jsonl`` is strict JSON.

In the CSV, lists and objects are compact JSON and a null is an empty cell. The HTML page needs
nothing outside the folder (no network, no external script or style).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import BadArgumentsError
from ..io.names import printable

if TYPE_CHECKING:
    from .api import Detection

RECORD_KEYS: tuple[str, ...] = (
    "file",
    "status",
    "error",
    "decision",
    "score",
    "pixel_threshold",
    "image_threshold",
    "area_fraction",
    "regions",
    "regions_below_image_threshold",
    "cues",
    "regenerated",
    "width",
    "height",
    "mask",
    "heatmap",
    "overlay",
    "output_sha256",
    "input_size",
    "input_mtime_ns",
    "input_sha256",
    "model",
    "version",
    "seconds",
)
#: the record keys that hold output paths, in the order the pictures are written
OUTPUT_KEYS: tuple[str, ...] = ("mask", "heatmap", "overlay")


@dataclass(frozen=True)
class InputFingerprint:
    """What identifies the content an image record was computed from."""

    size: int
    sha256: str
    mtime_ns: int | None = None

    @classmethod
    def of(cls, data: bytes, stat: os.stat_result | None = None) -> InputFingerprint:
        return cls(len(data), hashlib.sha256(data).hexdigest(), None if stat is None else stat.st_mtime_ns)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """True when ``record`` was computed from exactly this content (size, mtime and hash)."""
        return (
            record.get("input_size") == self.size
            and record.get("input_sha256") == self.sha256
            and record.get("input_mtime_ns") == self.mtime_ns
        )


def _finite(name: str, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"record field {name} is {value}; records hold finite numbers only")
    return value


def detection_record(
    file: str | bytes | os.PathLike,
    detection: Detection | None = None,
    *,
    error: str | None = None,
    model: str | None = None,
    pixel_threshold: float | None = None,
    image_threshold: float | None = None,
    cues: Sequence[str] | None = None,
    outputs: Mapping[str, str] | None = None,
    output_sha256: Mapping[str, str] | None = None,
    input_fingerprint: InputFingerprint | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """The record of one image (schema: module doc): give ``detection`` for a success, or
    ``error`` (one line) for a failure, never both.

    ``outputs``: picture kind → path relative to the output folder, with ``output_sha256``
    their hashes. ``model`` and the thresholds default to the detection's; ``seconds`` too.
    Raises ValueError on a non-finite number, so no record can carry NaN.
    """
    from .. import __version__

    if not isinstance(file, (str, bytes, os.PathLike)):
        # a common slip: the image itself where its name goes (detect takes arrays, records names)
        raise BadArgumentsError(
            f"detection_record: file must be the image's name or path (str, bytes or os.PathLike), got a "
            f"{type(file).__name__}; for an in-memory image pass a label such as 'image' "
            "(or det.source when it came from a file)"
        )
    if (detection is None) == (error is None):
        raise ValueError("give exactly one of detection (a success) or error (a failure)")
    outputs = dict(outputs or {})
    unknown = set(outputs) - set(OUTPUT_KEYS)
    if unknown:
        raise ValueError(f"unknown output kinds {sorted(unknown)}; use {OUTPUT_KEYS}")
    rec: dict[str, Any] = dict.fromkeys(RECORD_KEYS)
    rec["file"] = printable(file)
    if detection is not None:
        rec.update(
            status="ok",
            decision=bool(detection.decision),
            score=round(detection.score, 6),
            area_fraction=round(detection.area_fraction, 6),
            regions=[r.to_dict() for r in detection.regions],
            regions_below_image_threshold=[r.to_dict() for r in detection.regions_below_image_threshold],
            width=int(detection.width),
            height=int(detection.height),
            version=detection.version,
            regenerated=detection.regenerated,
        )
        model = detection.model if model is None else model
        cues = detection.cues if cues is None else cues
        pixel_threshold = detection.pixel_threshold if pixel_threshold is None else pixel_threshold
        image_threshold = detection.image_threshold if image_threshold is None else image_threshold
        seconds = detection.seconds if seconds is None else seconds
    else:
        rec.update(
            status="error", error=printable(" ".join(str(error).split())) or "unknown error", version=__version__
        )
    rec.update(
        model=None if model is None else printable(model),
        pixel_threshold=pixel_threshold,
        cues=list(cues or []),
        image_threshold=image_threshold,
        seconds=None if seconds is None else round(float(seconds), 4),
    )
    for kind in OUTPUT_KEYS:
        rec[kind] = printable(outputs[kind]) if kind in outputs else None
    rec["output_sha256"] = {k: output_sha256[k] for k in OUTPUT_KEYS if k in outputs} if output_sha256 else None
    if input_fingerprint is not None:
        rec.update(
            input_size=input_fingerprint.size,
            input_mtime_ns=input_fingerprint.mtime_ns,
            input_sha256=input_fingerprint.sha256,
        )
    for key in ("score", "pixel_threshold", "image_threshold", "area_fraction", "seconds"):
        _finite(key, rec[key])
    for region in (rec["regions"] or []) + (rec["regions_below_image_threshold"] or []):
        for k, v in region.items():
            _finite(f"regions.{k}", v)
    return rec


def normalise_record(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A record read back from disk with exactly :data:`RECORD_KEYS` (missing keys null)."""
    return {k: obj.get(k) for k in RECORD_KEYS}


def parse_record_line(line: str) -> dict[str, Any] | None:
    """The record on one line of results.jsonl, or None for a torn or foreign line."""
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("file"), str) or obj.get("status") not in ("ok", "error"):
        return None
    return normalise_record(obj)


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of an existing results.jsonl (complete lines only); [] when there is none."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return []
    return [r for r in map(parse_record_line, text.splitlines()) if r is not None]


def record_line(record: Mapping[str, Any]) -> str:
    """One JSON line; strict JSON (``allow_nan=False``)."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def records_jsonl(records: Sequence[Mapping[str, Any]]) -> str:
    return "".join(record_line(r) for r in records)


def records_csv(records: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RECORD_KEYS)
    for r in records:
        row = []
        for k in RECORD_KEYS:
            v = r.get(k)
            if v is None:
                row.append("")
            elif isinstance(v, (list, dict)):
                row.append(json.dumps(v, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
            elif isinstance(v, bool):
                row.append("true" if v else "false")
            else:
                row.append(v)
        writer.writerow(row)
    return buf.getvalue()


# ---- index.html --------------------------------------------------------------------------------


@dataclass
class IndexRow:
    """One row of the page: its record, the link to the original image (an href, already
    encoded with :func:`href`, or None) and the pictures that exist (kind → path relative to the page)."""

    record: Mapping[str, Any]
    original: str | None = None
    pictures: dict[str, str] = field(default_factory=dict)


def href(path: str | os.PathLike) -> str:
    """A relative link to ``path`` (a file name's raw bytes percent-encoded, so non-UTF-8 names work)."""
    return quote(os.fsencode(os.fspath(path)).replace(os.sep.encode(), b"/"))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inpaintscope detect: {title}</title>
<style>
body {{ font: 13px/1.35 system-ui, sans-serif; margin: 1em; background: #fafafa; color: #222; }}
h1 {{ font-size: 1.3em; margin: 0 0 .3em; }}
p {{ margin: .3em 0; }}
.counts span {{ display: inline-block; padding: 1px 8px; border-radius: 3px; margin-right: 4px; }}
.counts .flagged {{ background: #b22; color: #fff; font-weight: bold; }}
.counts .clean {{ background: #ddd; }} .counts .failed {{ background: #888; color: #fff; }}
table {{ border-collapse: collapse; margin-top: .5em; }}
th, td {{ border-bottom: 1px solid #e3e3e3; padding: 2px 6px; text-align: left; vertical-align: middle;
  white-space: nowrap; }}
th {{ cursor: pointer; background: #eee; position: sticky; top: 0; user-select: none; }}
th.asc::after {{ content: " \\25B2"; }} th.desc::after {{ content: " \\25BC"; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.file {{ max-width: 32em; overflow: hidden; text-overflow: ellipsis; }}
td.err {{ white-space: normal; max-width: 40em; color: #666; }}
tr.flagged td.dec {{ color: #b22; font-weight: bold; }}
tr.failed td {{ color: #888; }}
td.pic img {{ height: 32px; max-width: 64px; display: block; cursor: zoom-in; }}
td.links a {{ margin-right: .5em; }}
#viewer {{ position: fixed; inset: 0; background: rgba(20,20,20,.95); color: #eee; display: none;
  flex-direction: column; padding: .6em; z-index: 10; }}
#viewer.open {{ display: flex; }}
#viewer .bar {{ display: flex; justify-content: space-between; gap: 1em; }}
#viewer .panes {{ flex: 1; display: flex; gap: .5em; min-height: 0; margin-top: .5em; }}
#viewer figure {{ flex: 1; margin: 0; display: flex; flex-direction: column; min-width: 0; }}
#viewer figure img {{ flex: 1; min-height: 0; object-fit: contain; width: 100%; }}
#viewer figcaption {{ text-align: center; padding: .2em; }}
#viewer button {{ font: inherit; }}
</style></head><body>
<h1>inpaintscope detect</h1>
<p class="counts">{counts}</p>
<p>{settings}</p>
<p>Click a column header to sort; click a picture to see original | overlay | heatmap side by side
(&larr;/&rarr; previous/next, Esc closes).</p>
<table id="results"><thead><tr>
<th data-type="text">picture</th><th data-type="text">file</th><th data-type="text">decision</th>
<th data-type="num">score</th><th data-type="num">area</th><th data-type="num">regions</th>
<th data-type="num">size (px)</th><th data-type="num">seconds</th><th data-type="text">files</th>
<th data-type="text">error</th>
</tr></thead><tbody>
{rows}
</tbody></table>
<div id="viewer"><div class="bar"><span id="vcap"></span>
<span><button id="vprev">&larr;</button> <button id="vnext">&rarr;</button>
<button id="vclose">close</button></span></div>
<div class="panes"><figure><img id="v-original" alt="original not available"><figcaption>original</figcaption></figure>
<figure><img id="v-overlay" alt="no overlay"><figcaption>overlay</figcaption></figure>
<figure><img id="v-heatmap" alt="no heatmap"><figcaption>heatmap</figcaption></figure></div></div>
<script>
(function () {{
  var table = document.getElementById("results"), heads = table.tHead.rows[0].cells, body = table.tBodies[0];
  function key(row, i, num) {{
    var v = row.cells[i].getAttribute("data-v");
    if (v === null) v = row.cells[i].textContent;
    if (!num) return v.toLowerCase();
    var f = parseFloat(v); return isNaN(f) ? -Infinity : f;
  }}
  function sortBy(i, desc) {{
    var num = heads[i].getAttribute("data-type") === "num";
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
  sortBy(3, true);
  var viewer = document.getElementById("viewer"), current = null;
  function show(row) {{
    if (!row) return;
    current = row;
    ["original", "overlay", "heatmap"].forEach(function (k) {{
      var img = document.getElementById("v-" + k), src = row.getAttribute("data-" + k);
      if (src) img.src = src; else img.removeAttribute("src");
    }});
    document.getElementById("vcap").textContent = row.getAttribute("data-caption");
    viewer.className = "open";
  }}
  function close() {{ viewer.className = ""; current = null; }}
  body.addEventListener("click", function (e) {{
    if (e.target.tagName === "IMG") {{ e.preventDefault(); show(e.target.closest("tr")); }}
  }});
  document.getElementById("vclose").onclick = close;
  document.getElementById("vprev").onclick = function () {{ if (current) show(current.previousElementSibling); }};
  document.getElementById("vnext").onclick = function () {{ if (current) show(current.nextElementSibling); }};
  document.addEventListener("keydown", function (e) {{
    if (!current) return;
    if (e.key === "Escape") close();
    else if (e.key === "ArrowLeft") show(current.previousElementSibling);
    else if (e.key === "ArrowRight") show(current.nextElementSibling);
  }});
}})();
</script>
</body></html>
"""


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def _attr(v: str | None) -> str:
    return "" if v is None else html.escape(v, quote=True)


def count_decisions(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``{"flagged": n, "clean": n, "failed": n}`` over ``records``."""
    counts = {"flagged": 0, "clean": 0, "failed": 0}
    for r in records:
        key = "failed" if r.get("status") != "ok" else ("flagged" if r.get("decision") else "clean")
        counts[key] += 1
    return counts


def render_index_html(rows: Sequence[IndexRow], *, title: str = "", settings: str = "") -> str:
    """The page: counts, ``settings`` (a sentence), one compact sortable row per record, and
    a side-by-side viewer."""
    out = []
    for row in rows:
        rec, pics = row.record, row.pictures
        ok = rec.get("status") == "ok"
        cls = ("flagged" if rec.get("decision") else "clean") if ok else "failed"
        decision = ("inpainted" if rec.get("decision") else "clean") if ok else "failed"
        thumb = pics.get("overlay") or pics.get("heatmap")
        pic = f'<a href="{href(thumb)}"><img loading="lazy" src="{href(thumb)}" alt=""></a>' if thumb else ""
        links = [f'<a href="{_attr(row.original)}">original</a>'] if row.original else []
        links += [f'<a href="{href(pics[k])}">{k}</a>' for k in ("overlay", "heatmap", "mask") if k in pics]
        n_regions = len(rec.get("regions") or []) if ok else None
        n_below = len(rec.get("regions_below_image_threshold") or []) if ok else 0
        regions = "" if n_regions is None else (f"{n_regions}" + (f" (+{n_below} below)" if n_below else ""))
        size = f"{rec['width']}×{rec['height']}" if rec.get("width") else ""
        pixels = (rec["width"] * rec["height"]) if rec.get("width") and rec.get("height") else ""
        score = rec.get("score")
        caption = (
            f"{rec.get('file')}: {decision}"
            + (f", score {score:.3f}" if score is not None else "")
            + (
                f" (image threshold {rec.get('image_threshold')}, pixel threshold {rec.get('pixel_threshold')})"
                if ok
                else f": {rec.get('error')}"
            )
        )
        settings_tip = (
            f"model {rec.get('model')}, pixel threshold {rec.get('pixel_threshold')}, "
            f"image threshold {rec.get('image_threshold')}"
        )
        out.append(
            f'<tr class="{cls}" data-original="{_attr(row.original)}" '
            f'data-overlay="{href(pics["overlay"]) if "overlay" in pics else ""}" '
            f'data-heatmap="{href(pics["heatmap"]) if "heatmap" in pics else ""}" data-caption="{_attr(caption)}">'
            f'<td class="pic">{pic}</td>'
            f'<td class="file" title="{_attr(str(rec.get("file")))}">{html.escape(str(rec.get("file")))}</td>'
            f'<td class="dec" title="{_attr(settings_tip)}">{decision}</td>'
            f'<td class="num" data-v="{_fmt(score, ".6f")}">{_fmt(score, ".3f")}</td>'
            f'<td class="num" data-v="{_fmt(rec.get("area_fraction"), ".6f")}">'
            f"{_fmt(rec.get('area_fraction'), '.2%')}</td>"
            f'<td class="num" data-v="{"" if n_regions is None else n_regions}">{regions}</td>'
            f'<td class="num" data-v="{pixels}">{size}</td>'
            f'<td class="num">{_fmt(rec.get("seconds"), ".2f")}</td>'
            f'<td class="links">{" ".join(links)}</td>'
            f'<td class="err">{html.escape(str(rec.get("error") or ""))}</td></tr>'
        )
    counts = count_decisions([r.record for r in rows])
    badges = (
        f'<span class="flagged">{counts["flagged"]} flagged as inpainted</span>'
        f'<span class="clean">{counts["clean"]} clean</span>'
        f'<span class="failed">{counts["failed"]} failed</span> of {len(rows)} image(s)'
    )
    return _PAGE.format(title=html.escape(title), counts=badges, settings=html.escape(settings), rows="\n".join(out))
