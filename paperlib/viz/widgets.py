"""The widget pattern of the course: ``compute(values) -> data``, ``render(data) -> figure``.

A widget never runs a model: ``compute`` reads *recorded* arrays (retrieval scores, routing
probabilities, glimpse boxes, attention maps, memory weights...). :class:`Explorer` wires
ipywidgets controls to the two functions with ``observe`` (not ``interact``, which nbval cannot
check), keeps the latest ``data`` and ``figure`` as attributes, and shows the figure as a PNG in
an ``Output`` area. Tests set ``control.value`` and assert on ``explorer.data`` /
``explorer.figure`` without a kernel.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["Explorer"]


class Explorer:
    """Controls + compute + render, wired with ``observe``.

    Parameters
    ----------
    controls : dict ``name -> ipywidgets.ValueWidget``; their ``.value`` are passed to
        ``compute`` as keyword arguments.
    compute : ``compute(**values) -> data`` (pure; arrays in, arrays out).
    render : ``render(data) -> matplotlib.figure.Figure`` (or any object with a PNG repr).
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
        if self.figure is not None and hasattr(self.figure, "number"):
            plt.close(self.figure)
        self.figure = self.render(self.data)
        if hasattr(self.figure, "number"):
            plt.close(self.figure)  # keep it out of pyplot's inline auto-display
        self.output.clear_output(wait=True)
        with self.output:
            from IPython.display import display

            display(self.figure)
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
