// The analysts' page of `inpaintscope serve`: upload an image, show the original and the overlay
// side by side, re-threshold the heatmap here in the browser (no round trip), list the regions.
// No build step and no third-party code: the page must work offline, from the package files alone.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const ERROR_TITLES = {
    0: "Cannot reach the server", 400: "Bad request", 404: "Not found", 413: "Too large",
    415: "Not an image", 422: "Cannot read this image", 500: "Server error", 503: "Server busy",
  };

  const state = {
    file: null,        // the File last sent
    result: null,      // the JSON record of the answer
    original: null,    // ImageBitmap or <img> of the photo, at the analysed size
    heat: null,        // Uint8Array, 8-bit probability per pixel
    layer: document.createElement("canvas"), // the coloured mask at the slider's threshold
    hover: -1,         // index of the highlighted region
    pending: 0,        // animation frame of a requested redraw
  };

  // JET colour scale (blue 0 → red 1), the scale of the server's overlay pictures
  const JET = (function () {
    const t = new Uint8ClampedArray(256 * 3);
    const f = (x) => Math.max(0, Math.min(1, 1.5 - Math.abs(x))) * 255;
    for (let v = 0; v < 256; v++) {
      const x = v / 255;
      t[3 * v] = f(4 * x - 3); t[3 * v + 1] = f(4 * x - 2); t[3 * v + 2] = f(4 * x - 1);
    }
    return t;
  })();

  // The heatmap holds round(p * 255); p >= t becomes v >= round(t * 255), exact to 1/255.
  function cutFor(threshold) { return Math.round(threshold * 255); }

  function setPageState(s) { document.body.dataset.state = s; }

  function status(text) { $("status").textContent = text; }

  function showError(code, message, retryAfter) {
    const title = ERROR_TITLES[code] || "Error";
    $("error-title").textContent = code ? `${title} (HTTP ${code}):` : `${title}:`;
    let text = message || "";
    if (retryAfter) text += ` Try again in ${retryAfter} s.`;
    $("error-message").textContent = text;
    $("error").hidden = false;
    $("error").dataset.status = String(code);
    status("");
    setPageState("error");
  }

  function clearError() { $("error").hidden = true; delete $("error").dataset.status; }

  function fmtBytes(n) { return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`; }

  async function loadServerInfo() {
    try {
      const r = await fetch("healthz");
      const info = await r.json();
      $("model").textContent = `model ${info.model} · v${info.version}`;
      const l = info.limits;
      $("limits").textContent = `JPEG, PNG, WebP, TIFF, BMP, GIF or HEIC; up to ${fmtBytes(l.max_bytes)} and ` +
        `${(l.max_pixels / 1e6).toFixed(1)} megapixels.`;
    } catch (e) {
      $("model").textContent = "server not reachable";
    }
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("the browser could not decode a picture of the answer"));
      img.src = url;
    });
  }

  async function decodeHeat(url, w, h) {
    const img = await loadImage(url);
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(img, 0, 0);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    const heat = new Uint8Array(w * h);
    for (let i = 0; i < heat.length; i++) heat[i] = rgba[4 * i];
    return heat;
  }

  async function analyse(file, pixelThreshold) {
    if (!file) return;
    state.file = file;
    clearError();
    if (pixelThreshold === undefined) $("result").hidden = true; // a new image: no stale result beside its errors
    setPageState("busy");
    status(`Analysing ${file.name || "image"}…`);
    $("rerun").disabled = true;
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (e) {
      bitmap = null; // TIFF, HEIC...: the server sends the image as analysed
    }
    const params = new URLSearchParams({ images: bitmap ? "heatmap" : "heatmap,image" });
    if (pixelThreshold !== undefined) params.set("pixel_threshold", String(pixelThreshold));
    const form = new FormData();
    form.append("file", file, file.name || "upload");
    let response, body = null;
    try {
      response = await fetch(`v1/detect?${params}`, { method: "POST", body: form });
    } catch (e) {
      showError(0, `the request failed (${e.message}); is the server still running?`);
      return;
    }
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      showError(response.status, body && body.error ? body.error : response.statusText,
                response.headers.get("Retry-After"));
      return;
    }
    try {
      const w = body.width, h = body.height;
      state.heat = await decodeHeat(body.images.heatmap, w, h);
      state.original = body.images.image ? await loadImage(body.images.image) : bitmap;
      state.result = body;
      state.hover = -1;
      showResult();
    } catch (e) {
      showError(0, e.message);
    }
  }

  function showResult() {
    const r = state.result;
    const w = r.width, h = r.height;
    const dec = $("decision");
    dec.textContent = r.decision ? "Inpainted" : "No inpainting found";
    dec.className = "badge" + (r.decision ? " inpainted" : "");
    dec.dataset.decision = String(r.decision);
    $("score").textContent = r.score.toFixed(3);
    $("image-threshold").textContent = r.image_threshold.toFixed(2);
    $("file-name").textContent = r.file;
    $("size").textContent = `${w} × ${h}`;
    $("seconds").textContent = `${r.seconds.toFixed(2)} s`;
    $("threshold").value = String(r.pixel_threshold);

    for (const id of ["original", "overlay"]) { $(id).width = w; $(id).height = h; }
    state.layer.width = w; state.layer.height = h;
    $("original").getContext("2d").drawImage(state.original, 0, 0, w, h);
    $("overlay").dataset.renders = "0";

    const n = r.regions.length;
    const below = (r.regions_below_image_threshold || []).length;
    $("regions-note").textContent =
      `${n} region${n === 1 ? "" : "s"} at pixel threshold ${r.pixel_threshold.toFixed(2)}, as analysed by the server. ` +
      (below ? `The image is called clean, so its ${below} candidate region${below === 1 ? "" : "s"} ` +
               "(below the image threshold) are not listed as detections. " : "") +
      "The slider re-colours the mask here; \u201cRecompute\u201d sends the image again for regions and area at the new threshold.";
    const tbody = $("regions").tBodies[0];
    tbody.replaceChildren();
    r.regions.forEach((g, i) => {
      const tr = document.createElement("tr");
      tr.dataset.index = String(i);
      for (const text of [i + 1, `${g.x0}, ${g.y0} – ${g.x1}, ${g.y1}`, g.area.toLocaleString("en"),
                          g.mean_probability.toFixed(3), g.max_probability.toFixed(3)]) {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.appendChild(td);
      }
      tr.addEventListener("mouseenter", () => setHover(i));
      tr.addEventListener("mouseleave", () => setHover(-1));
      tbody.appendChild(tr);
    });
    $("result").hidden = false;
    rebuildLayer();
    status("");
    setPageState("done");
  }

  // The coloured mask at the slider's threshold: recomputed only when the threshold moves.
  function rebuildLayer() {
    const w = state.result.width, h = state.result.height, heat = state.heat;
    const t = parseFloat($("threshold").value);
    const cut = cutFor(t);
    const ctx = state.layer.getContext("2d");
    const img = ctx.createImageData(w, h);
    const px = img.data;
    let marked = 0;
    for (let i = 0; i < heat.length; i++) {
      const v = heat[i];
      if (v >= cut) {
        const o = 4 * i;
        px[o] = JET[3 * v]; px[o + 1] = JET[3 * v + 1]; px[o + 2] = JET[3 * v + 2]; px[o + 3] = 255;
        marked++;
      }
    }
    ctx.putImageData(img, 0, 0);
    $("threshold-value").textContent = t.toFixed(2);
    $("area-now").textContent = `${(100 * marked / heat.length).toFixed(2)} % (${marked.toLocaleString("en")} px)`;
    const canvas = $("overlay");
    canvas.dataset.maskPixels = String(marked);
    canvas.dataset.cut = String(cut);
    $("rerun").disabled = Math.abs(t - state.result.pixel_threshold) < 1e-9;
    drawOverlay();
  }

  function drawOverlay() {
    const r = state.result, canvas = $("overlay"), ctx = canvas.getContext("2d");
    const w = r.width, h = r.height;
    const alpha = parseFloat($("opacity").value);
    $("opacity-value").textContent = `${Math.round(alpha * 100)} %`;
    ctx.globalAlpha = 1;
    ctx.drawImage(state.original, 0, 0, w, h);
    ctx.globalAlpha = alpha;
    ctx.drawImage(state.layer, 0, 0);
    ctx.globalAlpha = 1;
    const line = Math.max(1, Math.round(Math.min(w, h) / 300));
    r.regions.forEach((g, i) => {
      const hot = i === state.hover;
      const x = g.x0 + 0.5, y = g.y0 + 0.5, bw = g.x1 - g.x0 - 1, bh = g.y1 - g.y0 - 1;
      if (hot) { ctx.fillStyle = "rgba(255, 230, 0, 0.25)"; ctx.fillRect(g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0); }
      ctx.lineWidth = (hot ? 2 * line : line) + 2; ctx.strokeStyle = "#000"; ctx.strokeRect(x, y, bw, bh);
      ctx.lineWidth = hot ? 2 * line : line; ctx.strokeStyle = hot ? "#ffe600" : "#fff"; ctx.strokeRect(x, y, bw, bh);
    });
    canvas.dataset.renders = String(Number(canvas.dataset.renders || "0") + 1);
    canvas.dataset.hover = String(state.hover);
  }

  function setHover(i) {
    if (i === state.hover || !state.result) return;
    state.hover = i;
    for (const tr of $("regions").tBodies[0].rows) tr.classList.toggle("hot", Number(tr.dataset.index) === i);
    drawOverlay();
  }

  function schedule(fn) {
    if (state.pending) cancelAnimationFrame(state.pending);
    state.pending = requestAnimationFrame(() => { state.pending = 0; if (state.result) fn(); });
  }

  // The region under the pointer: the smallest box that contains it.
  function regionAt(event) {
    const canvas = $("overlay"), rect = canvas.getBoundingClientRect();
    const x = (event.clientX - rect.left) * canvas.width / rect.width;
    const y = (event.clientY - rect.top) * canvas.height / rect.height;
    let best = -1, bestArea = Infinity;
    state.result.regions.forEach((g, i) => {
      const a = (g.x1 - g.x0) * (g.y1 - g.y0);
      if (x >= g.x0 && x < g.x1 && y >= g.y0 && y < g.y1 && a < bestArea) { best = i; bestArea = a; }
    });
    return best;
  }

  function wire() {
    const drop = $("drop"), input = $("file");
    input.addEventListener("change", () => { if (input.files.length) analyse(input.files[0]); input.value = ""; });
    drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      const files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) analyse(files[0]);
    });
    // a file dropped next to the zone must not make the browser navigate away from the page
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => e.preventDefault());

    $("threshold").addEventListener("input", () => schedule(rebuildLayer));
    $("opacity").addEventListener("input", () => schedule(drawOverlay));
    $("rerun").addEventListener("click", () => analyse(state.file, parseFloat($("threshold").value)));
    $("overlay").addEventListener("mousemove", (e) => { if (state.result) setHover(regionAt(e)); });
    $("overlay").addEventListener("mouseleave", () => setHover(-1));
  }

  wire();
  setPageState("idle");
  loadServerInfo();
})();
