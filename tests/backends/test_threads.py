"""The local pool backends pass the executor conformance suite."""
from __future__ import annotations

import concurrent.futures

import pytest

from streamz_core.backends.threads import ProcessExecutor, ThreadExecutor
from streamz_core.executor import get_executor
from streamz_core.testing import check_executor


def test_threads_backend_conforms():
    check_executor(lambda: ThreadExecutor(max_workers=2))


def test_processes_backend_conforms():
    check_executor(lambda: ProcessExecutor(max_workers=2), n=50)


def test_user_pool_is_wrapped_and_not_shut_down():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        check_executor(lambda: get_executor(pool), n=20)
        assert pool.submit(int, "3").result() == 3  # still usable: close() left it alone


@pytest.mark.parametrize("bad", [0, -1, 1.5, True], ids=str)
def test_thread_executor_rejects_bad_pool_size(bad):
    with pytest.raises(ValueError, match="max_workers"):
        ThreadExecutor(max_workers=bad)
