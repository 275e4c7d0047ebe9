"""The local executor survives a dead worker (issue 37, item 5): ``kill -9`` of one grid worker (what the
out-of-memory killer does) once left ``Pool.imap_unordered`` waiting forever. Now that job fails in one line,
the others finish, and the run ends in bounded time."""

import os
import signal
import threading
import time

import pytest

from empirical.errors import UserError
from empirical.experiments.common import executors


def square_or_die(x):
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return x * x


def square_or_raise(x):
    if x == 2:
        raise UserError("cell 2 is bad")
    return x * x


def _run(fn, jobs, workers=2):
    done, outcome = {}, {}

    def go():
        try:
            executors.run_local(jobs, fn, workers, 1, lambda i, r: done.__setitem__(i, r),
                                describe=lambda i: f"cell {jobs[i][0]}")  # fmt: skip
            outcome["ok"] = True
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(120)
    assert outcome, "the executor hung"
    return done, outcome


@pytest.mark.slow
def test_a_killed_worker_fails_its_cell_and_the_rest_finish():
    jobs = [(x,) for x in range(7)]
    done, outcome = _run(square_or_die, jobs)
    assert isinstance(outcome.get("error"), UserError)
    message = str(outcome["error"])
    assert "1 of 7 cells failed" in message and "cell 3: its worker was killed by SIGKILL" in message
    assert done == {i: i * i for i in range(7) if i != 3}


@pytest.mark.slow
def test_an_error_in_a_cell_is_raised_as_before():
    done, outcome = _run(square_or_raise, [(x,) for x in range(5)])
    assert isinstance(outcome.get("error"), UserError) and str(outcome["error"]) == "cell 2 is bad"
