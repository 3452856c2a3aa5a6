"""HTTP API of ``inpaintscope serve`` through Starlette's TestClient, with a detector whose
answer is known exactly (tests/_serve_helpers.py): every status code the server gives, the
record's values, the limits, the worker pool and the per-request temp folders."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'inpaintscope[serve]')")
pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2")

from fastapi.testclient import TestClient  # noqa: E402

from _serve_helpers import (  # noqa: E402
    HEIGHT,
    RECT_X1,
    RECT_Y0,
    RECT_Y1,
    WIDTH,
    RampDetector,
    decode_data_url,
    encode,
    first_column_at,
    ramp_image,
    ramp_probability,
)
from inpaintscope.detection.report import RECORD_KEYS  # noqa: E402
from inpaintscope.serve import create_app  # noqa: E402
from inpaintscope.serve.limits import ServeLimits  # noqa: E402

PNG = encode(ramp_image())


def make_client(tmp_path, detector=None, **limits) -> TestClient:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    app = create_app(model=detector or RampDetector(), limits=ServeLimits(**limits), temp_dir=work)
    return TestClient(app)


def leftovers(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "work").iterdir())


@pytest.fixture
def client(tmp_path):
    with make_client(tmp_path) as c:
        yield c
    assert leftovers(tmp_path) == [], "a request left files behind"


def test_detect_multipart_record_matches_the_known_answer(client):
    r = client.post("/v1/detect", files={"file": ("../../secret dir/ramp photo.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    rec = r.json()
    assert set(RECORD_KEYS) | {"images"} == set(rec)
    assert rec["file"] == "ramp photo.png"  # base name only: nothing of the client's path echoed
    assert (rec["status"], rec["error"], rec["width"], rec["height"]) == ("ok", None, WIDTH, HEIGHT)
    assert (rec["pixel_threshold"], rec["image_threshold"]) == (0.5, 0.5)
    x0 = first_column_at(0.5)
    assert x0 == 108
    assert len(rec["regions"]) == 1
    region = rec["regions"][0]
    assert (region["x0"], region["y0"], region["x1"], region["y1"]) == (x0, RECT_Y0, RECT_X1, RECT_Y1)
    assert region["area"] == (RECT_X1 - x0) * (RECT_Y1 - RECT_Y0)
    p = ramp_probability(ramp_image())
    inside = p[RECT_Y0:RECT_Y1, x0:RECT_X1]
    assert region["mean_probability"] == pytest.approx(inside.mean(), abs=1e-5)
    assert region["max_probability"] == pytest.approx(inside.max(), abs=1e-5)
    assert rec["area_fraction"] == pytest.approx(region["area"] / (WIDTH * HEIGHT), abs=1e-6)
    # no image head: the score is the 99.9th percentile of the heatmap
    assert rec["score"] == pytest.approx(np.percentile(p, 99.9), abs=1e-5)
    assert rec["decision"] is True
    assert rec["version"] and rec["model"] == "RampDetector" and rec["seconds"] >= 0

    assert set(rec["images"]) == {"mask", "heatmap", "overlay"}
    mask = decode_data_url(rec["images"]["mask"])
    assert mask.shape == (HEIGHT, WIDTH) and set(np.unique(mask)) == {0, 255}
    np.testing.assert_array_equal(mask == 255, p >= 0.5)
    heat = decode_data_url(rec["images"]["heatmap"])
    assert np.abs(heat.astype(int) - np.rint(p * 255)).max() <= 1
    overlay = decode_data_url(rec["images"]["overlay"])
    assert overlay.shape[0] > HEIGHT and overlay.shape[1] > WIDTH  # caption band above, colour bar beside


def test_raw_body_is_sniffed_and_thresholds_apply(client):
    # the declared type is wrong on purpose: content decides
    r = client.post("/v1/detect?threshold=0.9&images=none", content=PNG, headers={"content-type": "text/plain"})
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["file"] == "upload" and rec["images"] == {}
    x0 = first_column_at(0.9)
    assert x0 == 134
    assert [(g["x0"], g["x1"]) for g in rec["regions"]] == [(x0, RECT_X1)]
    assert (rec["pixel_threshold"], rec["image_threshold"]) == (0.9, 0.9)

    assert rec["score"] < 1.0
    rec = client.post("/v1/detect?pixel_threshold=0.5&image_threshold=1&images=none", content=PNG).json()
    # called clean: the regions are kept, but apart from the detections
    assert rec["decision"] is False and rec["regions"] == []
    assert rec["regions_below_image_threshold"][0]["x0"] == first_column_at(0.5)
    assert (rec["pixel_threshold"], rec["image_threshold"]) == (0.5, 1.0)
    rec = client.post("/v1/detect?threshold=0.99&image_threshold=0.2&images=none", content=PNG).json()
    assert rec["decision"] is True and (rec["pixel_threshold"], rec["image_threshold"]) == (0.99, 0.2)
    assert rec["regions"][0]["x0"] == first_column_at(0.99)


def test_clean_image_has_no_regions(client):
    flat = np.zeros((64, 96, 3), np.uint8)
    flat[..., 0] = 20
    rec = client.post("/v1/detect?images=mask", content=encode(flat)).json()
    assert rec["regions"] == [] and rec["decision"] is False and rec["area_fraction"] == 0.0
    assert set(rec["images"]) == {"mask"} and not decode_data_url(rec["images"]["mask"]).any()


@pytest.mark.parametrize(
    "fmt, kw", [("JPEG", {"quality": 95}), ("WEBP", {"lossless": True}), ("TIFF", {}), ("BMP", {}), ("GIF", {})]
)
def test_every_sniffed_format_is_analysed(client, fmt, kw):
    rec = client.post("/v1/detect?images=none", content=encode(ramp_image(), fmt, **kw)).json()
    assert (rec["width"], rec["height"]) == (WIDTH, HEIGHT)


def test_image_picture_and_bad_images_param(client):
    rec = client.post("/v1/detect?images=image,heatmap", content=PNG).json()
    np.testing.assert_array_equal(decode_data_url(rec["images"]["image"]), ramp_image())
    r = client.post("/v1/detect?images=mask,thumbnail", content=PNG)
    assert r.status_code == 422 and r.json()["code"] == "bad_parameter" and "thumbnail" in r.json()["error"]
    r = client.post("/v1/detect?threshold=1.5", content=PNG)
    assert r.status_code == 422 and r.json()["error"].startswith("threshold:")


@pytest.mark.parametrize(
    "body, filename",
    [
        (b"just some text, not an image at all", "photo.png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "drawing.svg"),
        (b"%PDF-1.7\n1 0 obj", "scan.jpg"),
    ],
)
def test_not_an_image_is_415_whatever_it_is_called(client, body, filename):
    for r in (
        client.post("/v1/detect", files={"file": (filename, body, "image/png")}),
        client.post("/v1/detect", content=body, headers={"content-type": "image/jpeg"}),
    ):
        assert r.status_code == 415
        assert r.json()["code"] == "unsupported_media_type" and "not an image" in r.json()["error"]


def test_corrupt_or_truncated_image_is_422(client):
    for body in (PNG[: len(PNG) // 2], b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, encode(ramp_image(), "JPEG")[:300]):
        r = client.post("/v1/detect", files={"file": ("broken.png", body)})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "unreadable_image" and r.json()["error"].startswith("broken.png:")


def test_empty_upload_and_form_without_file_are_400(client):
    r = client.post("/v1/detect", content=b"")
    assert r.status_code == 400 and r.json()["code"] == "empty_upload"
    r = client.post("/v1/detect", data={"note": "no file here"}, files={"other": (None, "x")})
    assert r.status_code == 400 and r.json()["code"] == "no_file"
    # a part with a file name is not enough: the image must come as the part named "file" (was a 200)
    r = client.post("/v1/detect", files={"photo": ("ramp.png", PNG, "image/png")})
    assert r.status_code == 400 and r.json()["code"] == "no_file", r.text
    assert "its parts: photo" in r.json()["error"] and "part named 'file'" in r.json()["error"]


def test_upload_over_max_bytes_is_413(tmp_path):
    limit = len(PNG) - 1
    with make_client(tmp_path, max_bytes=limit) as c:
        declared = c.post("/v1/detect", content=PNG)
        streamed = c.post("/v1/detect", content=iter([PNG[:1000], PNG[1000:]]))  # chunked: no Content-Length
        form = c.post("/v1/detect", files={"file": ("big.png", PNG)})
        for r in (declared, streamed, form):
            assert r.status_code == 413, r.text
            assert r.json()["code"] == "upload_too_large" and f"{limit:,} bytes" in r.json()["error"]
        assert "content-length" not in streamed.request.headers
    assert leftovers(tmp_path) == []
    with make_client(tmp_path, max_bytes=len(PNG)) as c:  # exactly at the limit is accepted
        assert c.post("/v1/detect?images=none", content=PNG).status_code == 200
        assert c.post("/v1/detect?images=none", files={"file": ("ok.png", PNG)}).status_code == 200


def test_image_over_max_pixels_is_413_before_decoding(tmp_path):
    small = ramp_image()[:100, :100]
    detector = RampDetector()
    with make_client(tmp_path, detector, max_pixels=100 * 100) as c:
        calls = detector.calls
        r = c.post("/v1/detect", content=PNG)
        assert r.status_code == 413 and r.json()["code"] == "too_many_pixels"
        assert f"{WIDTH}×{HEIGHT} = {WIDTH * HEIGHT:,} pixels" in r.json()["error"]
        assert detector.calls == calls  # refused from the header: the model never ran
        assert c.post("/v1/detect?images=none", content=encode(small)).status_code == 200


@pytest.mark.parametrize("queue", [0, 1])
def test_full_pool_answers_503_with_retry_after(tmp_path, queue):
    gate = threading.Event()
    detector = RampDetector()
    with make_client(tmp_path, detector, workers=1, queue=queue) as c:
        detector.gate = gate  # after the warm-up: from now on a forward pass waits for the gate
        results: list = []
        blocked = [
            threading.Thread(target=lambda: results.append(c.post("/v1/detect?images=none", content=PNG)))
            for _ in range(1 + queue)
        ]
        try:
            blocked[0].start()
            assert detector.entered.wait(30), "the first request never reached the worker"
            for t in blocked[1:]:
                t.start()
            for _ in range(3000):  # until the queued request(s) hold their place
                if c.get("/healthz").json()["pool"]["waiting"] == queue:
                    break
                threading.Event().wait(0.01)
            assert c.get("/healthz").json()["pool"] == {
                "workers": 1,
                "queue": queue,
                "running": 1,
                "waiting": queue,
                "served": 0,
            }
            r = c.post("/v1/detect", content=PNG)
            assert r.status_code == 503
            assert r.json()["code"] == "busy" and "retry in" in r.json()["error"]
            assert int(r.headers["retry-after"]) >= 1
        finally:
            gate.set()  # never leave a worker blocked, whatever failed
            for t in blocked:
                t.join(30)
        assert [x.status_code for x in results] == [200] * (1 + queue)
        assert c.post("/v1/detect?images=none", content=PNG).status_code == 200
    assert leftovers(tmp_path) == []


def test_internal_error_is_500_json_without_traceback(tmp_path):
    detector = RampDetector()
    with make_client(tmp_path, detector) as c:
        detector.fail = True
        r = c.post("/v1/detect", content=PNG)
        assert r.status_code == 500
        body = r.json()
        assert body == {"error": "internal error (RuntimeError: simulated fault)", "code": "internal_error"}
        detector.fail = False
        assert c.post("/v1/detect?images=none", content=PNG).status_code == 200  # the slot was given back
    assert leftovers(tmp_path) == []


def test_uploads_live_only_in_a_per_request_folder(tmp_path, monkeypatch):
    from inpaintscope.serve.app import TEMP_PREFIX, Service

    seen = []
    original = Service.analyse

    def spy(self, upload, *args):
        seen.append((upload.path, upload.path.is_file(), sorted(p.name for p in (tmp_path / "work").iterdir())))
        return original(self, upload, *args)

    monkeypatch.setattr(Service, "analyse", spy)
    with make_client(tmp_path) as c:
        for _ in range(2):
            assert c.post("/v1/detect?images=none", files={"file": ("a.png", PNG)}).status_code == 200
    (p1, exists1, during1), (p2, _, _) = seen
    assert exists1 and p1.parent.parent == tmp_path / "work" and p1.parent.name.startswith(TEMP_PREFIX)
    assert during1 == [p1.parent.name]  # only this request's folder exists while it runs
    assert p1.parent != p2.parent and not p1.parent.exists()
    assert leftovers(tmp_path) == []


def test_404_405_health_models(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json() == {"error": "no such page or endpoint: /v1/nothing", "code": "not_found"}
    r = client.get("/v1/detect")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model"] == "RampDetector"
    assert health["limits"] == ServeLimits().to_dict()
    models = client.get("/v1/models").json()
    assert models["models"] == [
        {
            "id": "RampDetector",
            "architecture": "RampDetector",
            "device": "cpu",
            "thresholds": {"pixel": 0.5, "image": 0.5},
        }
    ]
    assert "default" in models["shipped"]


def test_docs_and_page_load_nothing_from_outside(client):
    import re

    for path in ("/docs", "/"):
        r = client.get(path)
        assert r.status_code == 200
        urls = re.findall(r'(?:src|href)=["\']([^"\']+)', r.text)
        assert urls and all(not u.startswith(("http:", "https:", "//")) for u in urls), urls
        for u in urls:
            if not u.startswith(("data:", "docs")):
                assert client.get(u if u.startswith("/") else "/" + u).status_code == 200, u
    assert "content-security-policy" in client.get("/").headers
    assert "'self'" in client.get("/static/app.js").headers["content-security-policy"]
    schema = client.get("/openapi.json").json()
    assert {"/v1/detect", "/v1/models", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/v1/detect"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "application/octet-stream" in body
    params = {p["name"] for p in schema["paths"]["/v1/detect"]["post"]["parameters"]}
    assert params == {"threshold", "pixel_threshold", "image_threshold", "images"}
    assert json.dumps(schema).count("413") >= 1
