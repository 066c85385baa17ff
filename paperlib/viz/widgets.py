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


def figure_png(fig, dpi: float | None = None) -> bytes:
    """The PNG bytes of a matplotlib figure, drawn once at ``dpi`` (default: the figure's own), with the
    figure's own layout (no ``bbox_inches="tight"``, which would draw it a second time)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


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

    Attributes
    ----------
    data, figure : results of the latest update.
    widget : the ``ipywidgets.VBox`` to display (also returned by ``_repr_mimebundle_``).
    updates : number of updates so far (tests use it to see the wiring fire).
    """

    def __init__(self, controls: dict, compute: Callable, render: Callable, title: str = ""):
        import ipywidgets as w

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
            display(Image(data=figure_png(self.figure, dpi=80)) if hasattr(self.figure, "savefig") else self.figure)
        self.updates += 1
        return self.figure

    def _on_change(self, change):
        self.update()

    def snapshot(self, path=None, dpi=80):
        """The current figure (for the static PNG after the widget cell); saved if ``path``."""
        if path is not None:
            self.figure.savefig(path, dpi=dpi, bbox_inches="tight")
        return self.figure

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
