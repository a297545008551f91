"""ViewExecutor: a concurrent.futures.Executor that submits through a pxsh view."""

import concurrent.futures
import time
from typing import Any, Callable, Iterator, Optional

from .asyncresult import AsyncResult


class ViewExecutor(concurrent.futures.Executor):
    """submit() is the view's apply_async, map() its map_async; the futures are AsyncResults."""

    def __init__(self, view):
        self.view = view
        self._shutdown = False
        self._submitted: "list[AsyncResult]" = []

    def submit(self, fn: Callable, /, *args, **kwargs) -> AsyncResult:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        result = self.view.apply_async(fn, *args, **kwargs)
        self._submitted.append(result)
        return result

    def map(self, fn: Callable, *iterables, timeout: Optional[float] = None, chunksize: int = 1) -> Iterator[Any]:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        result = self.view.map_async(fn, *iterables, chunksize=chunksize)
        self._submitted.append(result)
        if timeout is None:
            return iter(result)
        deadline = time.monotonic() + timeout

        def results():
            for index in range(len(result._tasks)):
                if not _wait_task(result, index, deadline - time.monotonic()):
                    raise concurrent.futures.TimeoutError()
                yield from result._task_values(index)
        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        pending = [r for r in self._submitted if not r.done()]
        if cancel_futures:
            for result in pending:
                result.cancel()
        if wait:
            concurrent.futures.wait(pending)
        self._submitted = []


def _wait_task(result: AsyncResult, index: int, timeout: float) -> bool:
    task = result._tasks[index]
    return result._client._wait_for(lambda: task.reply is not None or result._complete(), max(0.0, timeout))
