"""The widget pattern of the course: ``compute(values) -> data``, ``render(data) -> figure``.

A widget never runs a model: ``compute`` reads *recorded* arrays (retrieval scores, routing
probabilities, glimpse boxes, attention maps, memory weights...). :class:`Explorer` wires
ipywidgets controls to the two functions with ``observe`` (not ``interact``, which nbval cannot
check), keeps the latest ``data`` and ``figure`` as attributes, and shows the figure as a PNG in
an ``Output`` area. Tests set ``control.value`` and assert on ``explorer.data`` /
``explorer.figure`` without a kernel.
"""
from __future__ import annotations

import inspect
from typing import Callable

__all__ = ["Explorer", "figure_png"]


def _animated(fig) -> list:
    """The figure's visible animated artists (matplotlib's blitting convention), in drawing order.

    The walk does not descend into an animated artist (drawing it draws its children) nor into an axis
    that is not animated (its ticks and labels are one part of the fixed background: an axis is animated
    as a whole, ``ax.yaxis.set_animated(True)``); it visits a few dozen artists where ``findobj`` visits
    every tick's line and label."""
    from matplotlib.axis import Axis

    def walk(a, out):                       # findobj's order: children before their parent, in child order
        if a.get_animated():
            if a.get_visible():
                out.append(a)
        elif not isinstance(a, Axis):
            for c in a.get_children():
                walk(c, out)
        return out

    out = []
    for c in fig.get_children():
        walk(c, out)
    return sorted(out, key=lambda a: a.get_zorder())


def figure_png(fig, dpi: float | None = None) -> bytes:
    """The PNG bytes of a matplotlib figure at ``dpi`` (default: the figure's own), with the figure's
    own layout (no ``bbox_inches="tight"``, which would draw it a second time).

    A figure with *animated* artists (``artist.set_animated(True)``, matplotlib's blitting convention)
    is drawn in two layers: everything else once, kept as a background for the figure's size and
    ``dpi``, then the animated artists on a copy of it. A render that updates a figure in place
    (:class:`Explorer` with ``render(data, fig=...)``) marks what a view changes as animated and keeps
    the rest fixed, so each update redraws only that (the tick labels, titles and frames are not drawn
    again). The figure's dpi is set to ``dpi`` in that case; the layered path draws with Agg whatever the
    figure's own canvas."""
    import io

    anim = _animated(fig)
    if not anim:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
        return buf.getvalue()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if dpi and fig.dpi != dpi:
        fig.set_dpi(dpi)
    key = (float(fig.dpi), tuple(float(x) for x in fig.get_size_inches()))
    bg = getattr(fig, "_png_background", None)
    if bg is None or bg[0] != key:
        canvas.draw()                                           # Agg skips animated artists
        bg = fig._png_background = (key, canvas.copy_from_bbox(fig.bbox))
    else:
        canvas.restore_region(bg[1])
    renderer = canvas.get_renderer()
    for a in anim:
        a.draw(renderer)
    out = io.BytesIO()
    Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
        out, format="png", compress_level=1)
    return out.getvalue()


class Explorer:
    """Controls + compute + render, wired with ``observe``.

    Parameters
    ----------
    controls : dict ``name -> ipywidgets.ValueWidget``; their ``.value`` are passed to
        ``compute`` as keyword arguments.
    compute : ``compute(**values) -> data`` (pure; arrays in, arrays out).
    render : ``render(data) -> matplotlib.figure.Figure`` (or any object with a PNG repr). A render
        that takes a ``fig`` keyword gets the previous figure on every update after the first and may
        update its artists in place (no axes and ticks to rebuild: faster updates).
    title : optional HTML heading.
    dpi : the resolution of the PNG shown on every update (default 80); a large figure can show at a lower
        one to keep an update fast (fewer pixels to draw and encode).

    Attributes
    ----------
    data, figure : results of the latest update.
    widget : the ``ipywidgets.VBox`` to display (also returned by ``_repr_mimebundle_``).
    updates : number of updates so far (tests use it to see the wiring fire).
    """

    def __init__(self, controls: dict, compute: Callable, render: Callable, title: str = "", dpi: float = 80):
        import ipywidgets as w

        self.dpi = dpi
        self.controls = dict(controls)
        self.compute = compute
        self.render = render
        try:                                                    # render(data, fig=previous) updates in place
            self._reuses = "fig" in inspect.signature(render).parameters
        except (TypeError, ValueError):
            self._reuses = False
        self.output = w.Output()
        self.updates = 0
        self.data = None
        self.figure = None
        box = [w.HTML(f"<b>{title}</b>")] if title else []
        box += [w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap")), self.output]
        self.widget = w.VBox(box)
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.update()

    def values(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def update(self):
        """Recompute and re-render from the controls' current values."""
        import matplotlib.pyplot as plt

        self.data = self.compute(**self.values())
        if self._reuses and self.figure is not None:
            fig = self.render(self.data, fig=self.figure)      # artists updated in place
        else:
            fig = self.render(self.data)
        if self.figure is not None and fig is not self.figure and hasattr(self.figure, "number"):
            plt.close(self.figure)
        self.figure = fig
        if hasattr(self.figure, "number"):
            plt.close(self.figure)  # keep it out of pyplot's inline auto-display
        self.output.clear_output(wait=True)
        with self.output:
            from IPython.display import Image, display

            # one draw into PNG bytes (IPython's inline display would draw a figure twice, for its tight box)
            display(Image(data=figure_png(self.figure, dpi=self.dpi)) if hasattr(self.figure, "savefig") else self.figure)
        self.updates += 1
        return self.figure

    def _on_change(self, change):
        self.update()

    def snapshot(self, path=None, dpi=80):
        """The current figure (for the static PNG after the widget cell); saved if ``path``. A figure
        drawn in layers (animated artists, see :func:`figure_png`) comes back as its composed PNG
        (an ``IPython.display.Image``): a plain draw would leave its animated artists out."""
        layered = hasattr(self.figure, "findobj") and bool(_animated(self.figure))
        if not layered:
            if path is not None:
                self.figure.savefig(path, dpi=dpi, bbox_inches="tight")
            return self.figure
        from IPython.display import Image

        png = figure_png(self.figure, dpi)
        if path is not None:
            with open(path, "wb") as f:
                f.write(png)
        return Image(data=png)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
