

def test_api_docs_render_offline(browser, server):
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith((server, "data:")) else None)
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)  # Swagger UI ran and read /openapi.json
    paths = set(page.locator(".opblock-summary-path").all_text_contents())
    assert {"/v1/detect", "/v1/models", "/healthz"} <= {p.strip() for p in paths}
    assert outside == [], f"/docs loaded something from outside the server: {outside}"
    page.close()
