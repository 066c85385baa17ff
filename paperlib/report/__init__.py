"""The results cell: one JSON object per notebook run (GUIDE.md, notebook anatomy item 12)."""
from __future__ import annotations

import json
import math
import time

__all__ = ["NotebookTimer", "results_json", "show_source", "expect"]


def expect(condition, message: str, enforce: bool = True) -> bool:
    """A notebook's check of what training should achieve: an ``AssertionError`` with ``message``
    when ``condition`` fails and ``enforce`` is true; otherwise one printed line,
    ``"not met (reported, not enforced): <message>"``, and the run goes on.

    The lessons enforce such checks on their embedded data, which is designed to hold what the
    check needs, and report them elsewhere: on a real dataset's fixture, or at a scale too small to
    learn, a failed learning check is information, not a broken notebook. Checks of the code itself
    (shapes, equations, invariants) are plain ``assert``s everywhere. Returns ``bool(condition)``.
    """
    ok = bool(condition)
    if not ok:
        if enforce:
            raise AssertionError(message)
        print(f"not met (reported, not enforced): {message}")
    return ok


class NotebookTimer:
    """Timer started in a notebook's first code cell.

    ``elapsed()`` is the wall time in seconds; ``cpu()`` the CPU seconds of the kernel process
    (all threads, ``time.process_time``). On a busy machine the wall time grows with the load
    while the CPU time does not, so ``cpu()`` bounds what the run costs on a quiet machine: with
    torch on 2 threads the quiet wall time lies between ``cpu() / 2`` and ``cpu()``.
    """

    def __init__(self):
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def cpu(self) -> float:
        return time.process_time() - self.cpu_start


def _clean(v):
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    return v


def results_json(notebook: str, dataset: str, runtime_s: float, metrics: dict) -> str:
    """The results line: ``{"notebook", "dataset", "runtime_s", "metrics": {variant: {metric: number}}}``.

    Floats are rounded to 4 decimals and NaN becomes null. Raises ``ValueError`` if
    ``metrics`` is not a dict of dicts.
    """
    if not isinstance(metrics, dict) or not all(isinstance(m, dict) for m in metrics.values()):
        raise ValueError("results_json: metrics must be {variant: {metric: number}}")
    return json.dumps({"notebook": notebook, "dataset": dataset, "runtime_s": round(float(runtime_s), 1),
                       "metrics": _clean(metrics)})


def show_source(*objs) -> None:
    """Display the source of functions or classes as Markdown code blocks in a notebook.

    A notebook shows the code of ``paperlib`` that it runs next to the equation or step it
    implements (the code has one home, the module; the notebook displays it). Outside IPython
    the source is printed. Raises ``TypeError`` (from ``inspect``) for objects without source.
    """
    import inspect

    texts = ["```python\n" + inspect.getsource(obj).rstrip() + "\n```" for obj in objs]
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover
        print("\n\n".join(texts))
        return
    for t in texts:
        display(Markdown(t))

