"""The built book, opened in a real browser (Playwright + Debian's chromium), and nbval's teeth."""
import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from conftest import NBVAL, assert_outputs_match
from gsnas import book

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("book")  # one worker builds the book once (a module fixture) and serves it
CHROMIUM = shutil.which("chromium")
SCREENSHOTS = ROOT / "_build" / "screenshots"
RESULT_CHAPTERS = {"claims", "operation_pruning", "nas", "robustness", "regime", "reproduce"}
MATH_CHAPTERS = {"method"}


@pytest.fixture(scope="module")
def site():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make install adds it)")
    if not (ROOT / "results" / "cpu" / "timings.csv").exists():
        pytest.skip("results/cpu/ is missing: run `make reproduce` first (the book is built from it)")
    index = book.build("cpu")
    html = index.parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield b
        b.close()


# A cell whose output holds a figure or table (img, svg, table) needs a provenance line (gsnas.report.Provenance) in
# its own output or in the next cell's, when that cell shows nothing else.
UNSOURCED = """cells => cells.filter(c => {
    const shows = el => el && el.querySelector('.cell_output') && el.querySelector('.cell_output img, .cell_output svg, .cell_output table');
    if (!shows(c)) return false;
    const next = c.nextElementSibling;
    const byNext = next && next.matches('div.cell') && !shows(next) && next.querySelector('p.provenance');
    return !(c.querySelector('p.provenance') || byNext);
}).map(c => c.innerText.trim().slice(0, 100))"""
# A table is cut when it is wider than the box it scrolls in, or than the page's main column.
OVERFLOW = """ts => ts.filter(t => {
    const main = document.querySelector('main') || document.body;
    return t.scrollWidth > t.parentElement.clientWidth + 1 ||
           t.getBoundingClientRect().right > main.getBoundingClientRect().right + 1;
}).map(t => (t.querySelector('th') || t).textContent.trim().slice(0, 60))"""
PAGES = ["book/intro"] + [f"book/generated/{c}" for c in book.CHAPTERS] + ["book/api"]


@pytest.mark.slow
@pytest.mark.parametrize("page_path", PAGES)
def test_chapter_page_renders(site, browser, page_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed, errors = [], []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: failed.append(f"{r.url} ({r.status})") if r.status >= 400 else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(f"{site}/{page_path}.html", wait_until="networkidle")
    name = page_path.split("/")[-1]
    if name in MATH_CHAPTERS:
        page.wait_for_selector("mjx-container", timeout=20_000)
        assert page.locator("mjx-container").count() >= 5
        assert page.locator("mjx-merror").count() == 0  # no TeX errors
    images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.src, i.complete, i.naturalWidth])")
    assert all(ok and width > 0 for _, ok, width in images), [i for i in images if not i[2]]
    if name in RESULT_CHAPTERS:
        rows = page.locator("table tbody tr").count()
        assert rows > 0, "a results chapter without table rows"
    if name in RESULT_CHAPTERS | {"beyond"}:  # their code lives in gsnas: the reader sees results, not calls
        shown = page.eval_on_selector_all("div.cell_input", "els => els.map(e => e.innerText.slice(0, 300))")
        assert not shown, f"a results chapter shows code: {shown}"
    # no pandas index column: a table whose first body cells are row headers (th) numbering the rows 0, 1, 2
    index_columns = page.eval_on_selector_all(
        "table", "ts => ts.filter(t => { const hs = [...t.querySelectorAll('tbody tr > th:first-child')]"
                 ".map(h => h.textContent.trim()); return hs.length > 1 && hs.every((h, i) => h === String(i)); }).length")
    assert index_columns == 0, f"{index_columns} table(s) show pandas' index"
    if name in RESULT_CHAPTERS | {"beyond"}:
        unsourced = page.eval_on_selector_all("div.cell", UNSOURCED)
        assert not unsourced, f"results figure(s) or table(s) without a provenance line: {unsourced}"
    if name == "intro":
        first = page.locator("article h2").first
        assert first.inner_text().strip().rstrip("#").strip() == "Reproduction summary", "the intro opens elsewhere"
        summary = page.locator("section#reproduction-summary").inner_text()
        assert all(w in summary for w in ("Scope of reproducibility", "Methodology", "What was difficult", "hours"))
        assert "```" not in summary and page.locator("section#reproduction-summary .admonition").count() == 1
    overflowing = page.eval_on_selector_all("article table", OVERFLOW)
    assert not overflowing, f"table(s) wider than their column (a cut column): {overflowing}"
    raw = page.eval_on_selector_all("article table thead th", "hs => hs.map(h => h.textContent.trim())"
                                    ".filter(t => /^[a-z0-9]+(_[a-z0-9]+)+$/.test(t))")
    assert not raw, f"raw column names (words with units instead): {raw}"
    long_floats = page.eval_on_selector_all("article table td", "ds => ds.map(d => d.textContent.trim())"
                                            ".filter(t => /\\d\\.0*[1-9]\\d{3,}/.test(t))")  # 4+ significant decimals
    assert not long_floats, f"floats not rounded for reading: {long_floats[:5]}"
    if name in RESULT_CHAPTERS | {"beyond"}:  # drawn at 100 dpi with text >= 8 pt (test_report_figures...)
        shrunk = page.eval_on_selector_all(".cell_output img", "imgs => imgs.filter(i => i.clientWidth < 0.97 * "
                                           "i.naturalWidth).map(i => [i.clientWidth, i.naturalWidth])")
        assert not shrunk, f"figures shrunk to fit (their 8 pt text would render smaller): {shrunk}"
    if page.locator(".cell-zoom").count():  # a cell drawing, clicked, fills most of the window
        page.locator(".cell-zoom").first.click()
        box = page.locator(".cell-zoom").first.bounding_box()
        assert box["width"] > 0.8 * 1280 and box["height"] > 0.8 * 900, box
        page.evaluate("document.activeElement.blur()")
    text = page.inner_text("article") if page.locator("article").count() else page.inner_text("body")
    raw_tex = [t for t in ("\\frac", "\\mu", "\\lVert", "$$") if t in text]
    assert not raw_tex, f"raw TeX on the page: {raw_tex}"
    if name in ("operation_pruning", "nas", "beyond", "method"):
        assert len(images) > 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert not failed, failed
    assert not errors, errors
    page.close()


def test_nbval_catches_a_changed_output(tmp_path):
    """The check of tests/test_notebooks.py fails on a changed output, and ignores what sanitize.cfg masks."""
    src = NBVAL / "1_search.ipynb"
    text = src.read_text()
    assert '"groups: 196' in text
    assert_outputs_match(src, src)
    changed = tmp_path / "1_search.ipynb"
    changed.write_text(text.replace('"groups: 196', '"groups: 195'))
    with pytest.raises(AssertionError) as failure:
        assert_outputs_match(changed, src)
    assert "groups: 195" in str(failure.value) and "groups: 196" in str(failure.value)
    pruning = (NBVAL / "4_operation_pruning.ipynb").read_text()
    assert "np.float64(0.001)" in pruning
    masked = tmp_path / "4_operation_pruning.ipynb"
    masked.write_text(pruning.replace("np.float64(0.001)", "np.float64(0.002)"))
    assert_outputs_match(masked, NBVAL / "4_operation_pruning.ipynb")  # floats are sanitized away
