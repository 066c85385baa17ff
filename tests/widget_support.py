"""What the widget tests share: pixel-for-pixel comparison of two figures as the front end receives them."""
from __future__ import annotations

import io

import numpy as np


def png_pixels(png: bytes) -> np.ndarray:
    """The RGBA pixels of a PNG."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def assert_same_pixels(fig, fresh, what: str, dpi: float = 80) -> None:
    """Assert that ``fig`` and ``fresh`` give the same PNG pixels at ``dpi`` (what
    :func:`paperlib.viz.widgets.figure_png` sends to the front end); the message names ``what`` was compared
    and how many pixels differ."""
    from paperlib.viz.widgets import figure_png

    a, b = png_pixels(figure_png(fig, dpi)), png_pixels(figure_png(fresh, dpi))
    assert a.shape == b.shape, what
    assert np.array_equal(a, b), f"{what}: {(a != b).any(-1).sum()} pixels differ"


def check_in_place_updates(ex, changes, fresh_render, at, on_check=None) -> int:
    """Set the controls of ``ex`` (an :class:`~paperlib.viz.widgets.Explorer` whose render takes ``fig=``) to
    ``changes`` (``(name, value)`` pairs) in turn: after each, the figure must still be the explorer's first one
    (its artists updated in place); after the changes at the indices in ``at``, it must be pixel for pixel
    ``fresh_render(ex.data)`` (a fresh figure with as many axes), after ``on_check(i, ex.data)`` if given.
    Returns the number of pixel checks."""
    import matplotlib.pyplot as plt

    first = ex.figure
    checked = 0
    for i, (name, value) in enumerate(changes):
        ex.controls[name].value = value
        assert ex.figure is first                                 # the same figure, its artists updated
        if i in at:
            if on_check is not None:
                on_check(i, ex.data)
            fresh = fresh_render(ex.data)
            assert fresh is not first and len(fresh.axes) == len(first.axes)
            assert_same_pixels(ex.figure, fresh, f"after {changes[:i + 1]}")
            plt.close(fresh)
            checked += 1
    return checked
