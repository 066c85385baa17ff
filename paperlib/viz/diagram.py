"""Block diagrams of the models (the papers' architecture figures, as implemented), in matplotlib."""
from __future__ import annotations

__all__ = ["block_diagram"]


def block_diagram(boxes, arrows, size, title: str = "", notes=(), figsize=(10, 3.3), fontsize: float = 7.5):
    """Draw rounded boxes and arrows on an axis-free canvas; returns ``(fig, ax)``.

    ``boxes``: iterable of ``(x, y, w, h, text, colour)`` in canvas units (lower-left corner, width,
    height); ``arrows``: iterable of ``((x0, y0), (x1, y1))``, tail to head; ``size``: ``(width,
    height)`` of the canvas in the same units; ``notes``: iterable of ``(x, y, text)`` drawn as small
    centred labels; ``title`` above the canvas."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=figsize)
    ax.set_xlim(0, size[0]); ax.set_ylim(0, size[1]); ax.axis("off")
    for x, y, w, h, text, col in boxes:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.03", fc=col, ec="black", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)
    for a, b in arrows:
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", lw=0.9))
    for x, y, text in notes:
        ax.text(x, y, text, fontsize=fontsize - 0.5, ha="center")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig, ax
