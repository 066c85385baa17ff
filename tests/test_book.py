"""The course website (``make book``) builds from the stored outputs and works offline in Chromium.

The test builds the site into a temporary folder exactly as ``make book`` does (Sphinx + MyST-NB,
``notebooks/conf.py``; about 15-30 s, so it runs inside ``make test``), serves it on a free
loopback port, and opens every page in Debian's Chromium with every request that leaves the
loopback interface aborted. On each page: no console error, every image loads
(``naturalWidth > 0``), the maths is typeset (MathJax's SVG output present, no TeX error, no raw ``$$`` or ``\\(`` left
in the text), the plotly figures are drawn (``.js-plotly-plot`` with an ``svg``), and every
internal link answers HTTP 200. No live widget output is left (the static snapshots are).

Without chromium (or playwright) the browser part skips with a one-line reason, except under
``CI=true``, where it fails.
"""
from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from paperlib.tools import browser
from tests.browser_support import require_browser

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "build" / "book-test.txt"
pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", str(ROOT / "notebooks"),
                           str(out / "html"), "-d", str(out / "doctrees")], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    pages = sorted([*(out / "html").glob("*.html"), *(out / "html").glob("exercises/*.html")])
    line = f"book: {len(pages)} pages built in {dt:.1f} s; warnings: {proc.stderr.strip() or 'none'}"
    print("\n" + line)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(line + "\n")  # tests/conftest.py prints it at the end of the run
    return out / "html"


def test_book_has_a_page_per_notebook_and_no_live_widgets(site):
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = site / f"{nb.stem}.html"
        assert page.exists(), page
        text = page.read_text()
        assert "application/vnd.jupyter.widget-view+json" not in text
        assert "unpkg.com" not in text and "cdn.jsdelivr" not in text
    index = (site / "index.html").read_text()
    for must in ("reading order", "Prerequisites", "arxiv.org/abs/2207.09675", "Licences", "run time"):
        assert must in index, must


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a page that moves on before a large file is sent closes the pipe: not an error of the site



def test_exercise_pages_show_no_hidden_test_and_collapse_the_solutions(site):
    """CI check 5: every exercise notebook has its page; no hidden-test line reaches it, and each
    solution sits inside a collapsed toggle (MyST-NB's ``hide-input``: a ``<details>`` element)."""
    import html
    import re

    from paperlib.tools import grading as G

    for stem in G.stems():
        page = site / "exercises" / f"{stem}.html"
        assert page.exists(), page
        raw = page.read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", raw))
        src = G.load(G.exercise_path(stem))
        hidden, solutions = G.secret_lines(src, solutions=False), G.secret_lines(src, hidden=False)
        shown = {l.strip() for l in text.splitlines()}
        assert not hidden & shown, f"{stem}: hidden tests on the website: {sorted(hidden & shown)[:3]}"
        details = "".join(re.findall(r"<details.*?</details>", raw, flags=re.S))
        inside = {l.strip() for l in html.unescape(re.sub(r"<[^>]+>", "", details)).splitlines()}
        for it in G.items(src):
            sol = [l.strip() for l in G.solution_text(G._src(src["cells"][it.answer])).splitlines()
                   if l.strip() in solutions]
            assert all(l in inside for l in sol), f"{stem}: {it.grade_id}: a solution line outside a collapsed toggle"


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(_Quiet, directory=str(site))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


_PAGE_STATE = """() => {
  const imgs = Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
  // the prose: the article without code cells, code blocks and scripts
  const article = (document.querySelector('article') || document.body).cloneNode(true);
  article.querySelectorAll('pre, code, script, .cell_input, .highlight, mjx-container').forEach(e => e.remove());
  return {
    imgs,
    text: article.textContent,
    mathNodes: document.querySelectorAll('span.math, div.math').length,
    mathjax: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    plotlyDivs: document.querySelectorAll('.course-plotly').length,
    plotlyDrawn: Array.from(document.querySelectorAll('.course-plotly')).filter(d => d.classList.contains('js-plotly-plot') && d.querySelector('svg')).length,
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  };
}"""


def test_every_page_in_chromium_offline(site, served):
    require_browser()
    pages = sorted(p.relative_to(site).as_posix() for p in [*site.glob("*.html"), *site.glob("exercises/*.html")])
    problems, checked_links, plots = [], set(), 0
    with browser.chromium_page() as (page, log):
        for name in pages:
            n_console = len(log["console_errors"]) + len(log["page_errors"])
            page.goto(f"{served}/{name}", wait_until="load")
            # MathJax typesets asynchronously (its script is deferred): wait for its startup promise
            page.evaluate("""async () => {
                if (!document.querySelector('span.math, div.math')) return;
                for (let i = 0; i < 600 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
                    await new Promise(r => setTimeout(r, 100));
                await MathJax.startup.promise; }""")
            st = page.evaluate(_PAGE_STATE)
            if len(log["console_errors"]) + len(log["page_errors"]) > n_console:
                problems.append(f"{name}: console errors {log['console_errors'][n_console:] + log['page_errors']}")
            bad = [i["src"][:80] for i in st["imgs"] if not i["ok"]]
            if bad:
                problems.append(f"{name}: images not loaded {bad}")
            if "$$" in st["text"] or "\\(" in st["text"] or "\\[" in st["text"]:
                problems.append(f"{name}: raw maths left in the page text")
            if st["mathNodes"] and not st["mathjax"]:
                problems.append(f"{name}: {st['mathNodes']} maths nodes but no MathJax output")
            if st["mathErrors"]:
                problems.append(f"{name}: {st['mathErrors']} TeX errors")
            if st["plotlyDrawn"] != st["plotlyDivs"]:
                problems.append(f"{name}: {st['plotlyDivs'] - st['plotlyDrawn']} plotly figure(s) not drawn")
            plots += st["plotlyDrawn"]
            for href in st["links"]:
                url = urllib.parse.urldefrag(href).url
                if url.startswith(served) and url not in checked_links:
                    checked_links.add(url)
                    try:
                        with urllib.request.urlopen(url, timeout=10) as r:
                            status = r.status
                    except urllib.error.HTTPError as e:
                        status = e.code
                    if status != 200:
                        problems.append(f"{name}: internal link {url} -> HTTP {status}")
    line = (f"book in chromium: {len(pages)} pages, {len(checked_links)} internal links, {plots} plotly figure(s) "
            f"drawn, {len(problems)} problem(s); blocked outside requests: {len(log['blocked'])}")
    print("\n" + line)
    with REPORT.open("a") as f:
        f.write(line + "\n")
    assert not log["blocked"], f"pages tried to load from outside: {sorted(set(log['blocked']))[:10]}"
    assert plots >= 1, "no plotly figure was drawn (notebook 00 has one)"
    assert not problems, "\n".join(problems)
