"""paperlib: the small shared helper package of the human-action-understanding course.

Notebooks build each paper's model themselves; ``paperlib`` holds what several notebooks share:
skeleton topologies, kinematics, data generators and loaders, generic graph layers, the
training loop, metrics and plotting/widget building blocks.
"""
from __future__ import annotations

import os
import random
import warnings

__version__ = "0.1.0"
__all__ = ["setup_notebook", "__version__"]


def setup_notebook(seed: int = 0, threads: int = 2, deterministic: bool = True, quiet: bool = True):
    """Prepare a notebook or script for reproducible runs.

    - seeds ``random``, ``numpy`` and ``torch`` with ``seed``;
    - ``torch.use_deterministic_algorithms(deterministic)`` and a fixed intra-op thread count
      (``threads``; the course's speed budget is measured on 2 CPU cores). The environment
      variable ``PAPERLIB_MAX_THREADS`` caps it: ``make test`` runs two notebooks at once with
      ``PAPERLIB_MAX_THREADS=1`` so that two kernels never share a core (OpenMP threads that
      wait for a busy core slow a run several-fold);
    - inline matplotlib figures as PNG (nbval skips PNG, so figures never break the tests);
    - the plotly renderer ``plotly_mimetype`` (figures render in JupyterLab and in nbviewer);
    - silences known, harmless warnings.

    Returns the ``torch.Generator`` seeded with ``seed``, for data loaders.

    Raises ``ValueError`` if ``threads < 1`` or ``PAPERLIB_MAX_THREADS`` is not a positive integer.
    """
    import numpy as np
    import torch

    if threads < 1:
        raise ValueError(f"setup_notebook: threads must be >= 1, got {threads}")
    cap = os.environ.get("PAPERLIB_MAX_THREADS")
    if cap is not None:
        if not cap.strip().isdigit() or int(cap) < 1:
            raise ValueError(f"setup_notebook: PAPERLIB_MAX_THREADS must be a positive integer, got {cap!r}")
        threads = min(threads, int(cap))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.use_deterministic_algorithms(deterministic)
    torch.set_num_threads(threads)
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = deterministic

    try:
        import matplotlib

        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:  # pragma: no cover - only inside a kernel
            ip.run_line_magic("matplotlib", "inline")
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
        matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "figure.max_open_warning": 0})
    except ImportError:  # pragma: no cover
        pass
    try:
        import plotly.io as pio

        pio.renderers.default = "plotly_mimetype"
    except ImportError:  # pragma: no cover
        pass
    if quiet:
        for category, module in ((UserWarning, "torch"), (FutureWarning, ""), (DeprecationWarning, ""),
                                 (UserWarning, "sklearn")):
            warnings.filterwarnings("ignore", category=category, module=module)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    gen = torch.Generator().manual_seed(seed)
    return gen
