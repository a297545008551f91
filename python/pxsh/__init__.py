"""pxsh from Python: attach to a pxsh cluster with IPython Parallel's API.

    import pxsh
    rc = pxsh.Client(cluster="demo")     # or pxsh.Client() for the only running cluster
    dv = rc[:]                           # DirectView on all engines
    lv = rc.load_balanced_view()
    ar = lv.apply_async(pow, 2, 10)      # an AsyncResult, which is a concurrent.futures.Future
    ar.get()                             # 1024

At the pxsh prompt the same client is already defined as ``px``.
"""

from .asyncresult import AsyncMapResult, AsyncResult, ExecuteReply
from .client import Client, list_clusters
from .errors import (ClusterError, CompositeError, EngineError, NoEnginesRegistered, PxshError, RemoteError,
                     TaskAborted, TimeoutError)
from .executor import ViewExecutor
from .serialize import SerializationError
from .views import DirectView, LoadBalancedView

__version__ = "0.1.0"

# Shown as pxsh.RemoteError (and so on) in tracebacks, the names users import.
for _public in (AsyncMapResult, AsyncResult, Client, ClusterError, CompositeError, DirectView, EngineError, ExecuteReply,
                LoadBalancedView, NoEnginesRegistered, PxshError, RemoteError, SerializationError, TaskAborted,
                TimeoutError, ViewExecutor):
    _public.__module__ = __name__
del _public

__all__ = [
    "AsyncMapResult", "AsyncResult", "Client", "ClusterError", "CompositeError", "DirectView", "EngineError",
    "ExecuteReply",
    "LoadBalancedView", "NoEnginesRegistered", "PxshError", "RemoteError", "SerializationError", "TaskAborted",
    "TimeoutError", "ViewExecutor", "list_clusters",
]
