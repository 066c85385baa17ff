"""Kernels executed with nbclient exit promptly, and lost kernel messages fail loudly (issue 31, item 8).

- a lesson-style notebook (paperlib imports, ``paperlib.train.fit`` with its tqdm widget bar, a
  matplotlib figure) executed by :class:`paperlib.tools.execute.ExecuteClient`: the kernel process
  is gone a few seconds after the last cell's reply, by itself (jupyter_client did not have to
  send SIGTERM), and no ipykernel/paperlib thread that would block exit is left (all daemon);
- a cell whose IOPub ``status: idle`` is lost makes the executor raise ``CellTimeoutError``
  (nbclient's default logs a warning and stores partial outputs);
- a reply waiting in the client's socket without an event-loop wake-up (the hang of lesson 01's
  explorer cell: a missed edge-triggered ZMQ_FD wake-up) is received within ``wake_s``;
- a cell whose ``execute_reply`` is lost makes the executor raise :class:`StalledCellError`
  after ``stall_s`` instead of waiting ``timeout``.
"""
from __future__ import annotations

import time

import nbformat
import pytest
from nbclient.exceptions import CellTimeoutError
from nbformat.v4 import new_code_cell, new_notebook

from paperlib.tools.execute import ExecuteClient, StalledCellError

LESSON_STYLE = [
    "import threading\n\nimport matplotlib.pyplot as plt\nimport torch\n\nimport paperlib\n"
    "from paperlib.train import fit, make_loader\n\ngen = paperlib.setup_notebook(0)",
    "x = torch.randn(256, 8, generator=gen)\ny = (x[:, 0] > 0).long()\n"
    "model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))\n"
    "hist = fit(model, make_loader(x, y, batch_size=32, shuffle=True), epochs=4, device='cpu')\n"
    "print(len(hist['loss']))",
    "fig, ax = plt.subplots(figsize=(3, 2))\nax.plot(hist['loss'])\nplt.show()",
    "print(sorted(t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()))",
]


def _nb(cells):
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_lesson_style_kernel_exits_within_seconds(tmp_path):
    nb = _nb(LESSON_STYLE)
    client = ExecuteClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    widgets = [o for o in nb.cells[1].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the progress bar should be a widget (tqdm.auto in a kernel), the case under test"
    assert nb.cells[3].outputs[0]["text"].strip() == "[]", nb.cells[3].outputs  # no non-daemon thread
    print(f"kernel exited {client.exit_seconds:.2f} s after the last cell's reply (forced: {client.exit_forced})")
    assert client.exit_forced is False, "jupyter_client had to terminate the kernel"
    assert client.exit_seconds < 5.0


def test_lost_iopub_idle_raises(tmp_path):
    nb = _nb(["print('a')", "print('b')"])
    client = ExecuteClient(nb, timeout=60, iopub_timeout=2, kernel_name="python3",
                           resources={"metadata": {"path": str(tmp_path)}})
    real = client.process_message

    def drop_idle_of_cell_1(msg, cell, cell_index):  # what a dropped IOPub message looks like to the client
        if cell_index == 1 and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return None
        return real(msg, cell, cell_index)

    client.process_message = drop_idle_of_cell_1
    with pytest.raises(CellTimeoutError, match="Timeout waiting for IOPub output"):
        client.execute()


def _missed_wakeup(get_msg):
    """Deliver one message to an asyncio DEALER-like socket while ``get_msg()`` waits on it, and
    consume the socket's edge-triggered ZMQ_FD wake-up before the event loop sees it (what a send
    on the same socket does: nbclient's OutputWidget sends comm_msg on the shell channel while the
    reply is awaited). Returns (message, seconds until get_msg returned)."""
    import asyncio

    import zmq
    import zmq.asyncio
    from jupyter_client.channels import AsyncZMQSocketChannel
    from jupyter_client.session import Session

    async def main():
        ctx = zmq.asyncio.Context()
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        a.bind("inproc://wake")
        b.connect("inproc://wake")
        session = Session(key=b"k")
        channel = AsyncZMQSocketChannel(a, session)
        waiting = asyncio.ensure_future(get_msg(channel))
        await asyncio.sleep(0.1)  # get_msg is now awaiting the socket
        t0 = time.perf_counter()
        await b.send_multipart(session.serialize(session.msg("execute_reply", {"status": "ok"})))
        zmq.Socket.shadow(a.underlying).get(zmq.EVENTS)  # consumes the edge: no wake-up follows
        msg = await waiting
        dt = time.perf_counter() - t0
        a.close(0), b.close(0), ctx.term()
        return msg, dt

    return asyncio.run(main())


def test_missed_wakeup_is_recovered_within_wake_s():
    from paperlib.tools.execute import wakeup_safe_get_msg

    # the failure mode, reproduced: the stock get_msg only sees the waiting message at its timeout
    msg, dt = _missed_wakeup(lambda ch: ch.get_msg(timeout=2.0))
    assert msg["msg_type"] == "execute_reply" and dt >= 1.9, f"the simulation did not miss the wake-up ({dt:.2f} s)"
    missed = []
    msg, dt = _missed_wakeup(lambda ch: wakeup_safe_get_msg(ch, timeout=30, wake_s=0.2,
                                                            on_missed=lambda: missed.append(1)))
    assert msg["msg_type"] == "execute_reply" and dt < 1.0 and missed == [1], (dt, missed)


def test_stalled_cell_raises_fast(tmp_path):
    nb = _nb(["print('a')", "print('b')"])
    stall_s = 1.5
    client = ExecuteClient(nb, timeout=120, stall_s=stall_s, kernel_name="python3",
                           resources={"metadata": {"path": str(tmp_path)}})
    dropped = []
    start_client = client.async_start_new_kernel_client

    async def start():
        kc = await start_client()
        chan = kc.shell_channel
        real = chan.get_msg

        async def get_msg(*a, **kw):  # lose the second execute_reply on the client side
            while True:
                msg = await real(*a, **kw)
                if msg["msg_type"] == "execute_reply" and msg["content"].get("execution_count") == 2 and not dropped:
                    dropped.append(msg)
                    continue
                return msg

        chan.get_msg = get_msg
        return kc

    client.async_start_new_kernel_client = start
    t0 = time.perf_counter()
    with pytest.raises(StalledCellError, match="cell 1: .*status idle.*execute_reply never arrived"):
        client.execute()
    assert dropped
    assert time.perf_counter() - t0 < 2 * stall_s + 10  # not the 120 s timeout


def test_papermill_engine_runs_the_guarded_client(tmp_path):
    # papermill calls nbclient's synchronous wrappers (execute_cell, start_new_kernel_client,
    # _cleanup_kernel); they must reach ExecuteClient's coroutines, or the missed wake-up hangs a
    # papermill run as it did the fixture run of notebook 01 (its explorer cell, kernel idle)
    import papermill as pm
    from papermill.engines import papermill_engines

    from paperlib.tools.execute import ExecuteClient, register_papermill_engine

    register_papermill_engine()
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(_nb(["x = 1", "print(x + 1)"]), src)
    seen = []
    real = ExecuteClient._stall_guard                   # started by ExecuteClient.async_execute_cell only

    async def spy(self, cell, *a, **kw):
        seen.append(cell.source)
        return await real(self, cell, *a, **kw)

    ExecuteClient._stall_guard = spy
    try:
        pm.execute_notebook(str(src), str(out), engine_name="paperlib", kernel_name="python3", progress_bar=False)
    finally:
        ExecuteClient._stall_guard = real
    client = papermill_engines.get_engine("paperlib").last_client
    assert "print(x + 1)" in seen, "papermill bypassed ExecuteClient.async_execute_cell"
    assert client.exit_seconds is not None and client.exit_seconds < 10, "ExecuteClient's cleanup did not run"
    assert nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"] == "2\n"
