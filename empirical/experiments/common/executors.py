"""Where an experiment's cells run: this process, a pool of local worker processes, or a Ray cluster.

Each executor takes ``jobs`` (argument tuples) and a module-level function ``fn`` (picklable: workers are
spawned), runs ``fn(*job)`` for every job and calls ``on_done(index, result)`` in the parent as results
arrive. Workers get ``threads`` torch/BLAS threads each and never outlive the parent process.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import threading
import time

import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from empirical.errors import UserError


def die_with_parent(parent_pid: int) -> None:
    """End this worker when the process ``parent_pid`` dies, however it dies (kill -9 leaves no orphans).

    Linux: SIGKILL on the parent's death (PR_SET_PDEATHSIG). That covers only a death after the call, so a parent
    already gone (killed while this worker started) is caught by comparing the parent's pid; elsewhere a daemon
    thread polls it."""

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # orphaned before the line above: re-parented to init or a subreaper
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(2.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def limit_threads(threads: int) -> None:
    """torch and the BLAS under numpy/scipy both get ``threads`` (workers share the cores)."""

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)


def _worker_init(threads: int, parent_pid: int) -> None:

    tqdm.set_lock(threading.RLock())  # no multiprocessing semaphore in the workers (see grid.run_grid)
    die_with_parent(parent_pid)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    limit_threads(threads)


def _worker_loop(conn, threads: int, parent_pid: int) -> None:
    """A local worker: run each ``(index, fn, job)`` it is sent and send back ``(index, ok, result or error)``;
    ``None`` ends it."""
    _worker_init(threads, parent_pid)
    while (item := conn.recv()) is not None:
        i, fn, job = item
        try:
            conn.send((i, True, fn(*job)))
        except BaseException as exc:  # noqa: BLE001  (sent to the parent, which raises it)
            try:
                conn.send((i, False, exc))
            except Exception:  # an exception that does not pickle: its text
                conn.send((i, False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def _death(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"its worker was killed by {name}" + (" (the out-of-memory killer?)" if -code == signal.SIGKILL else "")
    return f"its worker exited with status {code}"


def run_local(jobs, fn, workers: int, threads: int, on_done, describe=None) -> None:
    """One worker: in this process, with its thread counts set for the run and restored after. More: that many
    spawned worker processes, each handed one job at a time. A worker that dies (``kill -9``, the OOM killer)
    fails only the job it held: a new worker takes its place, the other jobs go on, and at the end one
    ``UserError`` names each failed job (``describe(index)``; default "job i"). An exception inside a job stops
    the run and is raised here, as before."""

    if workers == 1:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with threadpool_limits(limits=threads):
                for i, job in enumerate(jobs):
                    on_done(i, fn(*job))
        finally:
            torch.set_num_threads(before)
        return
    describe = describe or (lambda i: f"job {i}")
    ctx = mp.get_context("spawn")
    queue = list(enumerate(jobs))[::-1]
    live: dict = {}  # parent end of the pipe -> [process, index of the job it holds or None]
    failed: list[str] = []

    def start():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_loop, args=(child, threads, os.getpid()), daemon=True)
        proc.start()
        child.close()
        live[parent] = [proc, None]
        feed(parent)

    def feed(conn):
        if queue:
            i, job = queue.pop()
            live[conn][1] = i
            conn.send((i, fn, job))
        else:
            live[conn][1] = None
            with contextlib.suppress(OSError):
                conn.send(None)

    def settle(conn) -> None:
        """A message (a result or an error) from ``conn``, or the death of its worker."""
        proc, held = live[conn]
        try:
            i, ok, value = conn.recv()
        except (EOFError, OSError):  # the worker is gone: its job fails, a new worker takes over the rest
            proc.join(1.0)
            del live[conn]
            conn.close()
            if held is not None:
                failed.append(f"{describe(held)}: {_death(proc)}")
                logging.getLogger(__name__).error("%s", failed[-1])
                if queue:
                    start()
            return
        if not ok:
            raise value
        feed(conn)
        on_done(i, value)

    try:
        for _ in range(min(workers, len(jobs))):
            start()
        while any(held is not None for _, held in live.values()):
            busy = [c for c, (_, held) in live.items() if held is not None]
            for conn in mp_connection.wait(busy):
                settle(conn)
    finally:
        for conn, (proc, _) in list(live.items()):
            with contextlib.suppress(OSError):
                conn.send(None)
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
    if failed:
        raise UserError(
            f"{len(failed)} of {len(jobs)} cells failed, the others finished: "
            + "; ".join(failed)
            + "; run the same command again to retry them"
        )


def run_ray(jobs, fn, executor: str, workers: int, threads: int, device: str, on_done) -> None:
    """``executor``: ``ray`` (a local Ray instance with ``workers`` CPUs) or ``ray://ADDRESS`` (a cluster)."""
    try:  # lazy: Ray is optional (the `ray` extra)
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'corelocker-bounds[ray]'") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = executor[len("ray://") :] if executor.startswith("ray://") else None
    started = False
    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=f"ray://{address}" if ":" in address else address, log_to_driver=False)
            except (ImportError, ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
                first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
                raise UserError(f"cannot start a Ray client for {executor} ({first.strip()[:200]})") from None
        else:
            ray.init(num_cpus=workers, num_gpus=0, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        gpus = 1 if device.startswith("cuda") else 0  # never ask for a GPU a CPU run does not need
        task = ray.remote(num_cpus=threads, num_gpus=gpus)(_ray_call)
        refs = {task.remote(fn, job, threads): i for i, job in enumerate(jobs)}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                on_done(refs.pop(ref), ray.get(ref))
    finally:
        if started:
            ray.shutdown()


def _ray_call(fn, job, threads):
    limit_threads(threads)
    return fn(*job)
