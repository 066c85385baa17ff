"""Sphinx configuration of the course website (``make book``; output in ``build/book/``).

The notebooks are the site's pages, so their folder is the Sphinx source folder and this file
and the landing page (``index.md``) sit beside them (no new top-level folder). MyST-NB reads the
STORED outputs (``nb_execution_mode = "off"``: nothing is re-executed). Everything a page loads
is served from the site itself, so it works offline:

- maths: MathJax 3 (``tex-svg-full.js``: TeX input with every extension, SVG output, no font files) from the
  ``django-static-mathjax`` package, which ships the MathJax distribution (copied to ``_static/``);
- plotly: ``plotly.min.js`` from the ``plotly`` package (copied to ``_static/``), loaded only by
  pages with a plotly figure; each stored ``application/vnd.plotly.v1+json`` output becomes an
  interactive figure;
- theme: sphinx-book-theme's own bundled assets (no web fonts, no launch/repository buttons).

Live widget outputs (``application/vnd.jupyter.widget-view+json``: the explorers and tqdm bars)
need a kernel, so they are dropped: each explorer cell is followed in the notebook by a static
PNG snapshot of its default view, which the page shows. Code cells get a hide/show toggle
(``_static/course.js``).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paperlib.tools.grading import website_view  # noqa: E402

project = "Human action understanding, one paper at a time"
author = "The course authors"
copyright = "the course authors (code: MIT)"
html_title = project

extensions = ["myst_nb", "sphinx.ext.mathjax"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "results", "**/results/**", "papers", "**/papers/**"]

# MyST / MyST-NB: stored outputs only; $...$ and $$...$$ maths; markdown outputs parsed as MyST.
nb_execution_mode = "off"
nb_render_markdown_format = "myst"
nb_ipywidgets_js = {}  # no widget manager from a CDN: live widgets are dropped (snapshots stay)
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

# Offline assets (see the module docstring).
_BOOK_STATIC = Path(__file__).resolve().parents[1] / "build" / "book-static"
html_theme = "sphinx_book_theme"
html_static_path = ["_static", str(_BOOK_STATIC)]
html_css_files = ["course.css"]
html_js_files = ["course.js"]
html_theme_options = {
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "launch_buttons": {},
    "show_toc_level": 2,
}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
html_context = {"default_mode": "light"}
mathjax_path = "tex-svg-full.js"
mathjax3_config = {"svg": {"fontCache": "global"}}  # myst-parser adds the classes MathJax processes

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _stage_static():
    """Copy MathJax's tex-svg-full.js and plotly.min.js from their Python packages into build/book-static/."""
    import mathjax  # the django-static-mathjax package: the MathJax 3 distribution under static/mathjax
    import plotly

    sources = [Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg-full.js",
               Path(plotly.__file__).parent / "package_data" / "plotly.min.js"]
    _BOOK_STATIC.mkdir(parents=True, exist_ok=True)
    for src in sources:
        dst = _BOOK_STATIC / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)


_stage_static()


def _plotly_html(fig: dict, n: int) -> str:
    div = f"course-plotly-{n}"
    height = (fig.get("layout") or {}).get("height") or 500
    spec = json.dumps({"data": fig.get("data", []), "layout": fig.get("layout", {}), "frames": fig.get("frames", []),
                       "config": {"responsive": True, "displaylogo": False}})
    return (f'<div id="{div}" class="plotly-graph-div course-plotly" style="height:{int(height)}px; width:100%;"></div>\n'
            f'<script type="text/javascript">(function () {{ var spec = {spec};\n'
            f'  Plotly.newPlot("{div}", spec).then(function (gd) {{ if (spec.frames.length) '
            f'Plotly.addFrames(gd, spec.frames); }}); }})();</script>')


def _prepare_notebook(app, docname, source):
    """Drop live widget outputs and the widget state; turn plotly outputs into interactive HTML; in the
    exercise notebooks, remove the hidden tests and collapse the solutions (``website_view``)."""
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    nb = json.loads(source[0])
    nb.get("metadata", {}).pop("widgets", None)
    website_view(nb)  # exercises: hidden tests removed, solutions collapsed behind a toggle
    n = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_MIME in data:
                continue  # a live widget: its static snapshot follows in the next cell
            if PLOTLY_MIME in data:
                n += 1
                out = dict(out, data={"text/html": _plotly_html(data[PLOTLY_MIME], n)})
            outputs.append(out)
        cell["outputs"] = outputs
    source[0] = json.dumps(nb)


def _page_assets(app, pagename, templatename, context, doctree):
    if "course-plotly" in context.get("body", ""):
        app.add_js_file("plotly.min.js", priority=400)


def setup(app):
    app.connect("source-read", _prepare_notebook)
    app.connect("html-page-context", _page_assets)
    return {"parallel_read_safe": True}
