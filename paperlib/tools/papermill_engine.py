"""The ``paperlib`` papermill engine (``papermill --engine paperlib ...``): papermill's nbclient engine
with :class:`paperlib.tools.execute.ExecuteClient`'s guards against the missed wake-up and stalled
cells (:func:`paperlib.tools.execute.papermill_engine`). Registered through the ``papermill.engine``
entry point of ``pyproject.toml``."""
from .execute import papermill_engine

PaperlibEngine = papermill_engine()
