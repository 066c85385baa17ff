"""Execute notebooks top to bottom in place, as the course stores them.

``python -m paperlib.tools.execute notebooks/00_skeleton_sequences.ipynb [...]``

Runs each notebook with nbclient in a ``python3`` kernel from the notebook's directory, writes
the outputs back (execution counts 1..N), and prints the wall time and how long the kernel took
to exit after the last cell. Outputs are never hand-edited; this is the only way they are produced.

Hangs and silent losses are turned into recoveries or errors that name the cell (issue 31,
item 8):

- **missed wake-up of the reply (the observed hang).** nbclient awaits ``execute_reply`` with
  ``zmq.asyncio`` ``poll`` on the shell DEALER socket, while its ``OutputWidget`` (every
  ``ipywidgets.Output`` in a cell, e.g. :class:`paperlib.viz.widgets.Explorer`) sends
  ``comm_msg`` on that same socket. ZMQ's ``ZMQ_FD`` is edge-triggered (``zmq_getsockopt``:
  ZMQ_FD, ZMQ_EVENTS); a send can consume the edge, and then the reply sits in the socket
  (``ZMQ_EVENTS`` has ``POLLIN``) while the event loop sleeps in ``select`` until ``timeout``
  (900 s here, forever under ``jupyter nbconvert --execute``). :class:`ExecuteClient` polls in
  slices of at most ``wake_s`` seconds and checks ``ZMQ_EVENTS`` after each, so a missed wake-up
  costs at most ``wake_s``; each one is counted (``missed_wakeups``) and logged;
- **a cell whose reply never comes** although the kernel published ``status: idle`` for it, or
  never published ``busy`` (the request was not picked up): after ``stall_s`` seconds
  :class:`StalledCellError` instead of waiting ``timeout``. The Jupyter messaging spec has the
  kernel send the reply before ``idle``
  (https://jupyter-client.readthedocs.io/en/stable/messaging.html#request-reply);
- **a cell whose ``status: idle`` never comes**: nbclient's default only logs a warning after
  ``iopub_timeout`` and stores the outputs it had. The kernel's IOPub socket is an ``XPUB`` with
  the default send high-water mark (1000 messages) and no ``ZMQ_XPUB_NODROP``, so a client far
  enough behind a burst loses messages without notice. Here ``iopub_timeout`` is 30 s and a miss
  raises ``nbclient.exceptions.CellTimeoutError``.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from queue import Empty

from jupyter_core.utils import run_sync
from nbclient import NotebookClient

log = logging.getLogger("paperlib.tools.execute")


class StalledCellError(RuntimeError):
    """A cell's ``execute_reply`` did not arrive although the kernel had finished the cell (IOPub
    ``idle`` seen) or had never started it (no IOPub ``busy``); raised by :class:`ExecuteClient`."""


async def wakeup_safe_get_msg(channel, timeout: float | None = None, wake_s: float = 1.0, on_missed=None) -> dict:
    """``channel.get_msg(timeout)`` for a jupyter_client ``AsyncZMQSocketChannel`` that survives
    a missed edge-triggered wake-up.

    Awaits ``socket.poll`` for at most ``wake_s`` seconds at a time; at the end of a slice the
    socket's state is read again (pyzmq's ``poll`` does a non-blocking ``zmq_poll``, and
    ``ZMQ_EVENTS`` is checked), so a message waiting without a wake-up is received then and
    ``on_missed()`` is called. Returns the deserialized message; raises ``queue.Empty`` after
    ``timeout`` seconds (``None``: no limit), as ``get_msg`` does.
    """
    import zmq

    sock = channel.socket
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        step = wake_s if left is None else min(wake_s, left)
        t0 = time.monotonic()
        ready = await sock.poll(int(step * 1000))
        if not ready and sock.get(zmq.EVENTS) & zmq.POLLIN:
            ready = True
        if ready and on_missed is not None and time.monotonic() - t0 >= 0.999 * step:
            # found only by the check at the end of the slice (pyzmq's poll re-reads the socket's
            # state then): the loop was not woken when it arrived (or it arrived at that instant)
            on_missed()
        if ready:
            frames = await sock.recv_multipart()
            _, smsg = channel.session.feed_identities(frames)
            return channel.session.deserialize(smsg)
        if deadline is not None and time.monotonic() >= deadline:
            raise Empty


class ExecuteClient(NotebookClient):
    """nbclient's ``NotebookClient`` that neither hangs on a missed wake-up nor drops outputs silently.

    Differences from nbclient's defaults (module docstring): replies and IOPub messages are
    received with :func:`wakeup_safe_get_msg` (``wake_s`` seconds, default 1; ``missed_wakeups``
    counts the recoveries); a stall guard per cell (``stall_s`` seconds, default 30);
    ``iopub_timeout`` 30 s with ``raise_on_iopub_timeout=True``; the kernel manager's
    ``shutdown_wait_time`` is ``shutdown_wait_s`` (default 10 s instead of 5: jupyter_client sends
    SIGTERM after half of it, and a kernel with a lesson's heap on a loaded 2-core machine can need
    more than 2.5 s for IPython's exit ``gc.collect()`` and the atexit hooks; that is the "Kernel
    is taking too long to finish, terminating" of the issue). The kernel's exit is timed:
    ``exit_seconds`` holds the seconds from the last cell's reply to the kernel process being
    gone after ``shutdown_kernel(now=False)``, ``exit_forced`` whether jupyter_client had to send
    SIGTERM/SIGKILL.
    """

    def __init__(self, nb, stall_s: float = 30.0, wake_s: float = 1.0, shutdown_wait_s: float = 10.0, **kw):
        kw.setdefault("iopub_timeout", 30)
        kw.setdefault("raise_on_iopub_timeout", True)
        super().__init__(nb, **kw)
        self.stall_s = float(stall_s)
        self.wake_s = float(wake_s)
        self.shutdown_wait_s = float(shutdown_wait_s)
        self.missed_wakeups = 0
        self.exit_seconds: float | None = None
        self.exit_forced: bool | None = None
        self._last_reply_t: float | None = None

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.shutdown_wait_time = self.shutdown_wait_s
        return km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for name in ("shell", "iopub"):
            channel = getattr(kc, f"{name}_channel")

            def on_missed(name=name):
                self.missed_wakeups += 1
                log.warning("%s channel: a message was waiting that the event loop was not woken for "
                            "(missed ZMQ_FD edge); received it after <= %.1f s", name, self.wake_s)

            async def get_msg(timeout=None, channel=channel, on_missed=on_missed):
                return await wakeup_safe_get_msg(channel, timeout, self.wake_s, on_missed)

            channel.get_msg = get_msg
        return kc

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        run = asyncio.ensure_future(super().async_execute_cell(cell, cell_index, execution_count, store_history))
        guard = asyncio.ensure_future(self._stall_guard(cell, cell_index, run))
        try:
            out = await run
        except BaseException:
            # the guard cancels the cell's task; nbclient turns that cancellation into
            # DeadKernelError, so report the guard's own error instead
            if guard.done() and not guard.cancelled() and guard.exception() is not None:
                raise guard.exception() from None
            raise
        finally:
            guard.cancel()
        self._last_reply_t = time.perf_counter()
        return out

    async def _stall_guard(self, cell, cell_index, run):
        """Raise :class:`StalledCellError` when ``run`` waits ``stall_s`` for a reply that cannot come."""
        t0 = time.perf_counter()
        since = None
        while not run.done():
            await asyncio.sleep(min(1.0, self.stall_s / 4))
            ex = cell.get("metadata", {}).get("execution", {})
            now = time.perf_counter()
            if "iopub.status.idle" in ex and "shell.execute_reply" not in ex:
                state = "the kernel published status idle for it but its execute_reply never arrived"
            elif "iopub.status.busy" not in ex and now - t0 > self.stall_s:
                state = "the kernel never published status busy for it (the request was not picked up)"
            else:
                since = None
                continue
            since = since or now
            if now - since >= self.stall_s:
                err = StalledCellError(f"cell {cell_index}: {state} ({now - since:.0f} s; IOPub timestamps seen: "
                                       f"{sorted(ex)})")
                run.cancel()
                raise err

    async def _async_cleanup_kernel(self) -> None:
        """nbclient's cleanup, timing the kernel's exit (``exit_seconds``, ``exit_forced``)."""
        km = self.km
        proc = getattr(getattr(km, "provisioner", None), "process", None) if km is not None else None
        await super()._async_cleanup_kernel()
        if proc is not None and self._last_reply_t is not None:
            rc = proc.poll()
            self.exit_seconds = time.perf_counter() - self._last_reply_t
            # a signal ends the process with a negative return code (subprocess.Popen.returncode)
            self.exit_forced = rc is None or rc < 0

    # nbclient binds its synchronous wrappers to its own coroutines at class creation
    # (``execute_cell = run_sync(async_execute_cell)``...): a caller of the wrappers, papermill's
    # ``papermill_execute_cells`` for one, would bypass the overrides above. Bound again here.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)
    execute_cell = run_sync(async_execute_cell)
    _cleanup_kernel = run_sync(_async_cleanup_kernel)


def papermill_engine():
    """papermill's nbclient engine with :class:`ExecuteClient`'s guards, as a papermill ``Engine``
    class; registered as ``paperlib`` (``papermill --engine paperlib ...``, the entry point
    ``papermill.engine`` of ``pyproject.toml``; :func:`register_papermill_engine` in-process).
    The cells run as papermill runs them (the notebook saved after each cell, a failing cell's
    traceback stored and ``PapermillExecutionError`` raised), with the missed wake-up recovered
    and a stalled cell turned into :class:`StalledCellError`."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.utils import merge_kwargs, remove_args

    class PapermillClient(ExecuteClient, PapermillNotebookClient):
        """``ExecuteClient(nb_man, ...)``: the MRO passes ``nb_man`` on to papermill's client."""

    class PaperlibEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                     start_timeout=60, execution_timeout=None, **kwargs):
            kwargs = remove_args(["input_path"], **kwargs)
            safe = remove_args(["timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(safe, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                                 startup_timeout=start_timeout, kernel_name=kernel_name, log=log,
                                 log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            client = PapermillClient(nb_man, **final)
            out = client.execute()
            cls.last_client = client
            return out

    return PaperlibEngine


def register_papermill_engine() -> None:
    """Register :func:`papermill_engine` with papermill under the name ``paperlib``."""
    from papermill.engines import papermill_engines

    papermill_engines.register("paperlib", papermill_engine())


def execute(path: str | Path, timeout: int = 900, **kw) -> float:
    """Execute ``path`` in place; return the wall time in seconds.

    Raises nbclient's ``CellExecutionError`` on a cell error, ``CellTimeoutError`` when a cell
    runs past ``timeout`` or its IOPub ``idle`` never arrives, :class:`StalledCellError` when its
    reply cannot come (module docstring). ``kw`` go to :class:`ExecuteClient`. Recovered missed
    wake-ups and the kernel's exit time are printed to stderr."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    t0 = time.perf_counter()
    client = ExecuteClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}, **kw)
    client.execute()
    dt = time.perf_counter() - t0
    if client.missed_wakeups:
        print(f"{path}: {client.missed_wakeups} missed ZMQ wake-up(s) recovered", file=sys.stderr)
    if client.exit_seconds is not None:
        print(f"{path}: kernel exited {client.exit_seconds:.1f} s after the last cell"
              + (" (terminated by jupyter_client: it did not exit by itself)" if client.exit_forced else ""),
              file=sys.stderr)
    nbformat.write(nb, path)
    return dt


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    for p in argv:
        dt = execute(p)
        print(f"{p}: executed in {dt:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
