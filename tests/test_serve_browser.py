"""The analysts' page in a real headless Chromium (the system's, driven by Playwright): upload,
result, overlay, region list and hover, the in-browser threshold and opacity sliders, drag and
drop, an error message, and no request leaving the server. A screenshot is kept in
tests/artifacts/serve_page.png (git-ignored; the path is printed)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'inpaintscope[serve]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from _serve_helpers import (  # noqa: E402
    RECT_X1,
    RECT_Y0,
    RECT_Y1,
    RampDetector,
    encode,
    first_column_at,
    ramp_image,
    ramp_probability,
    running_server,
)
from inpaintscope.serve import create_app  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("INPAINTSCOPE_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run installs it)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        # a persistent context is the way to give Chromium a fresh --user-data-dir
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=exe, headless=True, args=LAUNCH_FLAGS, viewport={"width": 1280, "height": 900}
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("serve-work")
    with running_server(create_app(model=RampDetector(), temp_dir=work)) as url:
        yield url


def expected_marked(cut: int) -> int:
    """Pixels the page must mark at a cut on the 8-bit heatmap (the server rounds p * 255)."""
    heat = np.rint(ramp_probability(ramp_image()).astype(np.float32) * 255)
    return int(np.count_nonzero(heat >= cut))


def pixel(page, canvas: str, x: int, y: int) -> list[int]:
    return page.evaluate(
        "([id, x, y]) => Array.from(document.getElementById(id).getContext('2d').getImageData(x, y, 1, 1).data)",
        [canvas, x, y],
    )


def test_page_analyses_an_upload_and_rethresholds_in_the_browser(browser, server, tmp_path):
    page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request", lambda req: outside.append(req.url) if not req.url.startswith((server, "data:", "blob:")) else None
    )
    # the page runs under its real Content-Security-Policy (no bypass): it must not break it
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(server + "/")
    page.wait_for_selector("#model:has-text('RampDetector')")

    photo = tmp_path / "ramp.png"
    photo.write_bytes(encode(ramp_image()))
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("body[data-state=done]", timeout=30_000)

    # decision, score and the region list (the server's answer at pixel threshold 0.5)
    assert page.text_content("#decision") == "Inpainted"
    assert float(page.text_content("#score")) == pytest.approx(1.0, abs=1e-3)
    rows = page.locator("#regions tbody tr")
    assert rows.count() == 1
    x0 = first_column_at(0.5)
    assert f"{x0}, {RECT_Y0} – {RECT_X1}, {RECT_Y1}" in rows.first.text_content()

    # the overlay: coloured inside the mask, the untouched photo outside it
    overlay = page.locator("#overlay")
    assert overlay.get_attribute("data-cut") == "128"
    assert int(overlay.get_attribute("data-mask-pixels")) == expected_marked(128)
    inside, outside_mask = (200, 120), (30, 30)
    assert pixel(page, "overlay", *inside) != pixel(page, "original", *inside)
    assert pixel(page, "overlay", *outside_mask) == pixel(page, "original", *outside_mask)

    # hovering a region highlights it on the image
    rows.first.hover()
    assert overlay.get_attribute("data-hover") == "0" and "hot" in rows.first.get_attribute("class")
    page.mouse.move(5, 5)
    page.wait_for_selector("#overlay[data-hover='-1']")

    # threshold slider: re-thresholded here, no request to the server
    detect_calls = []
    page.on("request", lambda req: detect_calls.append(req.url) if "/v1/detect" in req.url else None)
    renders = int(overlay.get_attribute("data-renders"))
    page.focus("#threshold")
    page.keyboard.press("End")  # 1.00
    for _ in range(10):
        page.keyboard.press("ArrowLeft")  # 0.90
    page.wait_for_selector("#overlay[data-cut='230']")
    assert page.input_value("#threshold") == "0.9"
    assert int(overlay.get_attribute("data-mask-pixels")) == expected_marked(230) < expected_marked(128)
    assert int(overlay.get_attribute("data-renders")) > renders
    between = (first_column_at(0.5) + 5, 120)  # marked at 0.5, not at 0.9
    assert pixel(page, "overlay", *between) == pixel(page, "original", *between)
    assert pixel(page, "overlay", *inside) != pixel(page, "original", *inside)
    assert detect_calls == []

    # opacity 0 shows the photo through the mask
    page.focus("#opacity")
    page.keyboard.press("Home")
    page.wait_for_selector("#opacity-value:text-is('0 %')")
    assert pixel(page, "overlay", *inside) == pixel(page, "original", *inside)
    page.keyboard.press("End")

    # "Recompute" sends the image again at the slider's threshold
    page.click("#rerun")
    page.wait_for_selector("#regions-note:has-text('threshold 0.90')")
    assert f"{first_column_at(0.9)}, {RECT_Y0}" in page.locator("#regions tbody tr").first.text_content()

    page.focus("#opacity")
    for _ in range(40):
        page.keyboard.press("ArrowLeft")  # 0.60, the default
    page.locator("#regions tbody tr").first.hover()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "serve_page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert outside == [], f"the page loaded something from outside the server: {outside}"
    assert problems == [], f"errors in the page's console: {problems}"
    page.close()


def test_page_takes_a_dropped_file_and_shows_server_errors(browser, server):
    page = browser.new_page()
    page.goto(server + "/")
    drop = """([b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name));
        const event = new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true});
        document.getElementById('drop').dispatchEvent(event);
    }"""
    page.evaluate(drop, [base64.b64encode(b"this is a text file, not a photo").decode(), "notes.png"])
    page.wait_for_selector("body[data-state=error]", timeout=30_000)
    assert page.is_visible("#error")
    assert page.get_attribute("#error", "data-status") == "415"
    text = page.text_content("#error")
    assert "Not an image (HTTP 415)" in text and "notes.png is not an image" in text

    page.evaluate(drop, [base64.b64encode(encode(ramp_image())).decode(), "dropped.png"])
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert page.is_hidden("#error")
    assert page.text_content("#file-name") == "dropped.png"
    assert page.locator("#regions tbody tr").count() == 1
    page.close()


def test_api_docs_render_offline(browser, server):
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith((server, "data:")) else None)
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)  # Swagger UI ran and read /openapi.json
    paths = {p.strip() for p in page.locator(".opblock-summary-path").all_text_contents()}
    assert {"/v1/detect", "/v1/models", "/healthz"} <= paths
    assert outside == [], f"/docs loaded something from outside the server: {outside}"
    page.close()
