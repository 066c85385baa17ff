"""Drive the course in a real browser: JupyterLab in Debian's Chromium, through Playwright.

Used by the browser tests (``tests/test_browser_widgets.py``, ``tests/test_book.py``) and by
``make browser-check``::

    python -m paperlib.tools.browser check [00b 01 ...]   # Run All in JupyterLab, report per notebook
    python -m paperlib.tools.browser overrides             # write JupyterLab's settings overrides

Playwright's own browser download is never used: Chromium comes from the system
(``apt-get install chromium``, ``/usr/bin/chromium``) and is launched with ``executable_path``.

``check`` copies the selected notebooks to a temporary folder and runs them there, so
``notebooks/*.ipynb`` are never modified; the report and the screenshots go to
``build/browser-check/``.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# JupyterLab settings overrides for `make lab` and for the test servers: never ask about (nor fetch)
# the official Jupyter news, never check for updates (both would reach the internet).
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
# Only for the test servers (a user settings folder of their own): render every cell, so that
# the outputs of cells below the fold exist in the page.
TEST_USER_SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"}}

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ERROR_TEXT = "Error displaying widget"


def chromium_path() -> str | None:
    """Debian's Chromium, or ``None`` when it is not installed."""
    for c in CHROMIUM_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("chromium")


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here (``None`` when they can)."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (make setup)"
    if chromium_path() is None:
        return "chromium is not installed (apt-get install chromium)"
    return None


def overrides_path(prefix: str | Path = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def write_lab_overrides(prefix: str | Path = sys.prefix) -> Path:
    """Write ``<prefix>/share/jupyter/lab/settings/overrides.json`` (merging with what is there)."""
    path = overrides_path(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    for plugin, values in LAB_OVERRIDES.items():
        current.setdefault(plugin, {}).update(values)
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root_dir: str | Path, startup_timeout: float = 120.0, log_path: str | Path | None = None):
    """A JupyterLab server from this environment on a free loopback port, with a token.

    Yields ``(base_url, token)``. The server gets its own user settings and workspaces folders
    (``windowingMode: none``), and the environment's settings overrides (written if missing).
    """
    if not overrides_path().exists():
        write_lab_overrides()
    port, token = free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="lab-home-") as home:
        settings = Path(home) / "settings"
        for rel, values in TEST_USER_SETTINGS.items():
            p = settings / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(values))
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(Path(home) / "workspaces"),
                   JUPYTER_RUNTIME_DIR=str(Path(home) / "runtime"),
                   PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root_dir}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI runs as root
        log = open(log_path, "w") if log_path else open(os.devnull, "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(root_dir))
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter lab exited with {proc.returncode} (log: {log_path})")
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer within {startup_timeout:.0f} s")
                time.sleep(0.3)
            yield base, token
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@contextlib.contextmanager
def chromium_page(block_outside_loopback: bool = True, viewport=(1400, 1000)):
    """A Playwright page in Debian's Chromium. Yields ``(page, log)``: ``log`` collects console
    errors, page errors and requests blocked because they left the loopback interface."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    log = {"console_errors": [], "page_errors": [], "blocked": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            if block_outside_loopback:
                def guard(route):
                    url = route.request.url
                    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
                    if url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost", "[::1]"):
                        route.continue_()
                    else:
                        log["blocked"].append(url)
                        route.abort()
                ctx.route("**/*", guard)
            page = ctx.new_page()
            page.on("console", lambda m: log["console_errors"].append(f"{m.text} @ {m.location.get('url', '')}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: log["page_errors"].append(str(e)))
            yield page, log
        finally:
            browser.close()


# ----------------------------------------------------------------------------------- JupyterLab
def open_notebook(page, base: str, token: str, rel_path: str, timeout: float = 120.0):
    """Open ``rel_path`` (relative to the server's root) and wait for an idle kernel."""
    # ?reset: a fresh workspace, so the tabs of notebooks opened before are not restored next to it
    page.goto(f"{base}/lab/tree/{rel_path}?reset&token={token}", timeout=timeout * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout * 1000)
    # the kernel starts some seconds after the page: wait for the server's session to be idle,
    # then for the page's status bar to say so (a Run All before that opens a kernel dialog)
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
            sessions = json.loads(r.read())
        if any(s.get("path", "").endswith(rel_path) and (s.get("kernel") or {}).get("execution_state") == "idle"
               for s in sessions):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"no idle kernel for {rel_path} within {timeout:.0f} s")
        _accept_kernel_dialog(page)
        time.sleep(0.5)
    wait_kernel_idle(page, timeout)


def _accept_kernel_dialog(page):
    """JupyterLab sometimes asks which kernel to start (the notebook names ``python3``): accept."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    if dialog.count():
        dialog.first.click()


def wait_kernel_idle(page, timeout: float = 120.0):
    page.wait_for_function(
        """() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                   const s = p && p.querySelector('.jp-Notebook-ExecutionIndicator');
                   const bar = document.querySelector('#jp-main-statusbar');
                   return s && s.getAttribute('data-status') === 'idle' && bar && /\\| Idle/.test(bar.textContent); }""",
        timeout=timeout * 1000, polling=250)


def shutdown_kernels(base: str, token: str):
    """Close every session (and its kernel) of the server."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
        sessions = json.loads(r.read())
    for s in sessions:
        req = urllib.request.Request(f"{base}/api/sessions/{s['id']}?token={token}", method="DELETE")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(req, timeout=30).close()


def run_all(page):
    """Run > Run All Cells, from JupyterLab's menu bar (accepting the kernel dialog if one opens)."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').first.click()
    page.wait_for_timeout(500)
    _accept_kernel_dialog(page)


def wait_all_executed(page, timeout: float = 600.0):
    """Wait until every code cell shows an execution count (``[n]:``) and the kernel is idle."""
    page.wait_for_function(
        """() => { const ps = Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt'));
                   return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent)); }""",
        timeout=timeout * 1000, polling=250)
    wait_kernel_idle(page, timeout)


def cell_errors(page) -> list[str]:
    """Error outputs (tracebacks) and widget display errors in the open notebook."""
    return page.evaluate(
        f"""() => {{ const out = [];
            document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output').forEach(o => {{
              if (o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr' && /Traceback|Error/.test(o.textContent)
                  && o.querySelector('.ansi-red-fg, .ansi-red-intense-fg')) out.push(o.textContent.slice(0, 300));
              if (o.textContent.includes({json.dumps(ERROR_TEXT)})) out.push(o.textContent.slice(0, 300));
            }});
            return out; }}""")


# -------------------------------------------------------------------------------- the explorers
_MARK_EXPLORERS = """() => {
  // An explorer (paperlib.viz.widgets.Explorer) is a VBox holding a row of controls (an HBox)
  // and an Output widget that shows the figure as an <img>.
  const found = [];
  document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-vbox').forEach(v => {
    const row = Array.from(v.children).find(c => c.classList.contains('widget-hbox'));
    const out = Array.from(v.children).find(c => c.classList.contains('widget-output'));
    if (!row || !out) return;
    const cell = v.closest('.jp-CodeCell');
    const src = (cell && cell.querySelector('.jp-InputArea .cm-content')) ? cell.querySelector('.jp-InputArea .cm-content').textContent : '';
    v.setAttribute('data-explorer', String(found.length));
    Array.from(row.children).forEach((c, j) => c.setAttribute('data-control', String(j)));
    const title = v.querySelector('.widget-html b');
    found.push({index: found.length, title: title ? title.textContent : '', source: src.slice(0, 120),
                controls: row.children.length, img: !!out.querySelector('img')});
  });
  return found;
}"""

_ARM = """(el) => {
  // Latency as a user feels it: from the first input event inside the explorer (a key press on a slider, a
  // pointer press on a button or box, a select's change) to the moment the new figure is decoded and shown.
  // window.__armed_latency counts from the arming instead (it adds the harness's own Playwright commands).
  const snap = () => Array.from(el.querySelectorAll('.widget-output img')).map(i => i.src).join('|');
  const before = snap();
  window.__latency = null; window.__armed_latency = null; window.__t_input = null;
  const t_arm = performance.now();
  const start = () => { if (window.__t_input === null) window.__t_input = performance.now(); };
  const events = ['keydown', 'pointerdown', 'mousedown', 'input', 'change'];
  events.forEach(ev => el.addEventListener(ev, start, {capture: true}));
  const check = () => {
    const imgs = Array.from(el.querySelectorAll('.widget-output img'));
    if (imgs.length && snap() !== before && imgs.every(i => i.complete && i.naturalWidth > 0)) {
      const now = performance.now();
      window.__armed_latency = now - t_arm;
      window.__latency = now - (window.__t_input === null ? t_arm : window.__t_input);
      obs.disconnect(); clearInterval(timer); events.forEach(ev => el.removeEventListener(ev, start, {capture: true}));
    }
  };
  const obs = new MutationObserver(check);
  obs.observe(el, {subtree: true, childList: true, attributes: true});
  const timer = setInterval(check, 20);
}"""


def _move_control(page, control) -> str:
    """Change one control's value the way a user would; return what was done."""
    cls = control.get_attribute("class") or ""
    if "widget-slider" in cls:
        handle = control.locator(".noUi-handle").first
        now, hi = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
        key = "ArrowLeft" if now is not None and hi is not None and float(now) >= float(hi) else "ArrowRight"
        for _ in range(3):  # a key press can be lost while the page is busy: retry until the value moves
            handle.focus()
            page.keyboard.press(key)
            try:
                page.wait_for_function("([h, v]) => h.getAttribute('aria-valuenow') !== v", arg=[handle.element_handle(), now],
                                       timeout=3000, polling=50)
                break
            except Exception:  # noqa: BLE001
                continue
        return f"slider {key}"
    if "widget-dropdown" in cls:
        sel = control.locator("select").first
        n = sel.locator("option").count()
        cur = sel.evaluate("s => s.selectedIndex")
        sel.select_option(index=(cur + 1) % n)
        return f"dropdown option {(cur + 1) % n}"
    if "widget-checkbox" in cls:
        control.locator("input[type=checkbox]").first.click()
        return "checkbox click"
    if "widget-toggle-buttons" in cls:
        btn = control.locator("button:not(.mod-active)").first
        label = btn.inner_text()
        btn.click()
        return f"toggle {label!r}"
    raise ValueError(f"unknown control type: {cls}")


def exercise_explorers(page, shots_dir: str | Path | None = None, prefix: str = "", timeout: float = 30.0):
    """Find every explorer in the open notebook, screenshot it, move each control once and time
    the new figure. Returns a list of dicts (one per explorer) with per-control latencies (s):
    ``latency_s`` from the first input event the control receives (the key press, pointer press or
    select change, as the browser dispatches it) to the new figure decoded on the page, and
    ``latency_from_command_s`` from before the harness's Playwright commands (focus, key press and
    the wait for the control's value: an upper bound that adds the harness's round trips); a
    control whose figure did not change within ``timeout`` has both ``None``."""
    found = page.evaluate(_MARK_EXPLORERS)
    results = []
    for ex in found:
        root = page.locator(f'[data-explorer="{ex["index"]}"]')
        root.scroll_into_view_if_needed()
        entry = dict(ex, controls=[], error=ERROR_TEXT in root.inner_text())
        if shots_dir is not None:
            Path(shots_dir).mkdir(parents=True, exist_ok=True)
            shot = Path(shots_dir) / f"{prefix}{ex['index']:02d}_{_slug(ex['title'] or 'explorer')}.png"
            root.screenshot(path=str(shot))
            entry["screenshot"] = str(shot)
        for j in range(ex["controls"]):
            control = root.locator(f'[data-control="{j}"]')
            root.evaluate(_ARM)
            action = _move_control(page, control)
            try:
                page.wait_for_function("() => window.__latency !== null", timeout=timeout * 1000, polling=20)
                latency = page.evaluate("() => window.__latency") / 1000.0
                armed = page.evaluate("() => window.__armed_latency") / 1000.0
            except Exception:  # noqa: BLE001 - a timeout is reported as "no change"
                latency = armed = None
            name = control.inner_text().replace("\u200b", "").strip().splitlines()
            name = name[0].strip() if name and name[0].strip() else str(j)
            entry["controls"].append({"control": name, "action": action, "latency_s": latency,
                                      "latency_from_command_s": armed})
        results.append(entry)
    return results


def latency_summary(results) -> dict:
    lat = [c["latency_s"] for r in results for c in r["controls"] if c["latency_s"] is not None]
    return {"updates": len(lat), "median_s": statistics.median(lat) if lat else None, "worst_s": max(lat) if lat else None}


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s.lower()).strip("_")[:40] or "x"


# ------------------------------------------------------------------------- make browser-check
def select_notebooks(selection) -> list[Path]:
    """Notebooks whose file name starts with one of ``selection`` (all when it is empty)."""
    nbs = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not selection:
        return nbs
    chosen = [p for p in nbs if any(p.name.startswith(s) or p.stem == s for s in selection)]
    # "00" selects 00_... but not 00b_...: an exact prefix before "_" wins when there is one
    exact = [p for p in chosen if any(p.name.split("_", 1)[0] == s for s in selection)]
    return exact or chosen


def _check_one(nb: Path, base: str, token: str, out_dir: Path, timeout: float) -> dict:
    """Open one notebook in a fresh Chromium, Run All, check its cells and exercise its widgets."""
    with chromium_page() as (page, log):
        open_notebook(page, base, token, nb.name)
        t0 = time.perf_counter()
        run_all(page)
        wait_all_executed(page, timeout)
        wall = time.perf_counter() - t0
        errors = cell_errors(page)
        explorers = exercise_explorers(page, out_dir, prefix=f"{nb.stem}_")
        page.screenshot(path=str(out_dir / f"{nb.stem}_page.png"))
        shutdown_kernels(base, token)  # one kernel at a time, whatever the selection
        return {"notebook": nb.name, "wall_s": round(wall, 1), "cell_errors": errors, "explorers": len(explorers),
                "widgets_render": all(e["img"] and not e["error"] for e in explorers),
                "widgets_respond": all(c["latency_s"] is not None for e in explorers for c in e["controls"]),
                "latency": latency_summary(explorers), "console_errors": log["console_errors"],
                "page_errors": log["page_errors"], "blocked_requests": log["blocked"], "details": explorers}


def browser_check(selection=(), out_dir: str | Path = ROOT / "build" / "browser-check", timeout: float = 900.0) -> int:
    reason = missing_browser_reason()
    if reason:
        print(f"browser-check: {reason}")
        return 2
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbs = select_notebooks(selection)
    if not nbs:
        print(f"browser-check: no notebook matches {list(selection)}")
        return 2
    report, ok = [], True
    with tempfile.TemporaryDirectory(prefix="browser-check-") as tmp:
        for nb in nbs:
            shutil.copy2(nb, Path(tmp) / nb.name)  # Run All writes outputs here, never into notebooks/
        with jupyter_lab(tmp, log_path=out_dir / "jupyter.log") as (base, token):
            for nb in nbs:
                try:
                    entry = _check_one(nb, base, token, out_dir, timeout)
                except Exception as err:  # noqa: BLE001 - reported, and the other notebooks still run
                    entry = {"notebook": nb.name, "failed": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
                    shutdown_kernels(base, token)
                    print(f"{nb.name}: FAILED: {entry['failed']}", flush=True)
                    ok = False
                    report.append(entry)
                    continue
                report.append(entry)
                good = (not entry["cell_errors"] and entry["widgets_render"] and entry["widgets_respond"]
                        and not entry["page_errors"])
                ok &= good
                lat, n = entry["latency"], entry["explorers"]
                widgets = (f"{n} widget(s) {'render' if entry['widgets_render'] else 'DO NOT render'} and "
                           f"{'respond' if entry['widgets_respond'] else 'DO NOT respond'}") if n else "no widgets"
                print(f"{nb.name}: Run All {entry['wall_s']:.1f} s; {widgets}"
                      + (f" (update median {lat['median_s']:.2f} s, worst {lat['worst_s']:.2f} s)" if lat["updates"] else "")
                      + f"; cell errors {len(entry['cell_errors'])}, console errors {len(entry['console_errors'])}"
                      + ("" if good else "  <-- FAIL"), flush=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(f"browser-check: report and screenshots in {out_dir}")
    return 0 if ok else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["overrides"]:
        print(write_lab_overrides(argv[1] if len(argv) > 1 else sys.prefix))
        return 0
    if argv[:1] == ["check"]:
        return browser_check([a for s in argv[1:] for a in s.split()])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
