"""The course site of the smoke run, opened page by page in headless Chromium: loads cleanly, every
image renders, no output holds an error, every internal link resolves; one screenshot per page."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from helpers.report.site import DOC_PAGES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.notebook,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: install Debian's package (`apt-get install chromium`) to run the "
        "browser test",
    ),
]
#: flags for a sandboxed root session on a closed network (no background requests to Google's hosts)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site without a log line per request."""

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site(smoke_site):
    root = smoke_site
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def pages(root: Path) -> list[str]:
    """The home page, one page per executed notebook, then the pages of docs/."""
    notebooks = sorted(p.name for p in root.glob("[0-9][0-9]_*.html"))
    return ["index.html", *notebooks, *[f"docs/{name}.html" for name in DOC_PAGES]]


@pytest.mark.parametrize("index", range(8 + len(DOC_PAGES)))
def test_every_page_loads_renders_and_links(site, browser, index):
    root, base = site
    names = pages(root)
    if index >= len(names):
        pytest.skip("fewer pages")
    name = names[index]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(urljoin(base, name), wait_until="networkidle")
    assert response.status == 200
    screenshots = root.parent / "screenshots"
    screenshots.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshots / f"{name.replace('/', '_')}.png"), full_page=True)
    widths = page.eval_on_selector_all(
        "img", "images => images.map(image => [image.getAttribute('src'), image.naturalWidth])"
    )
    broken = [src for src, width in widths if not width]
    outputs = page.eval_on_selector_all(
        ".cell_output, .output", "nodes => nodes.map(node => node.innerText)"
    )
    links = page.eval_on_selector_all("a[href]", "anchors => anchors.map(anchor => anchor.href)")
    page.close()
    assert not errors, f"{name}: console errors {errors}"
    assert not broken, f"{name}: images that did not render: {broken}"
    assert not [text for text in outputs if "Traceback" in text or "Error:" in text[:200]], (
        f"{name}: an output holds an error"
    )
    internal = {urlsplit(link).path.lstrip("/") for link in links if link.startswith(base)}
    missing = [path for path in internal if path and not (root / path).exists()]
    assert not missing, f"{name}: links to pages that do not exist: {missing}"
    if name[:2].isdigit():
        assert len(widths) >= 2, f"{name}: a notebook page should show its figures"
