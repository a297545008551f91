"""The peers' half of `pxsh bench --compare`: ipyparallel, multiprocessing, concurrent.futures, loky and
dask.distributed doing pxsh's work.

pxsh writes this file next to its sockets and runs it with the peer python:

    python peer_bench.py ipyparallel|multiprocessing|concurrent.futures|loky|dask --cold-start-engines 2,4,8 ...

The options carry pxsh's plan, so every system does the same work. The script
prints tab-separated lines on stdout:

    info      KEY      VALUE
    sample    MEASURE  SETTING  v1 v2 ...
    skip      MEASURE  REASON       (the peer has no such operation)
    fail      MEASURE  REASON       (the measurement raised; the others go on)
    unavailable        REASON       (the peer cannot run at all)

MEASURE names a row of pxsh's table (cold_start.n4, call, px_pass.n1,
map.chunk1, push.100MB, rss.engine, ...). A sample line holds every timed run of that row,
in the row's unit: seconds, tasks/s, items/s, GB/s (10**9 bytes/s) or bytes.
Anything else on stdout or stderr is a log line; pxsh shows the last ones if
the script fails.

With --serve-call-blocks (concurrent.futures, loky) the script measures only
the call row, in blocks that pxsh asks for on stdin one at a time ("calls N
LEAD_IN"), each answered by a sample line, so that pxsh can run them between
blocks of its own Python call and judge the ratio of the two side by side.

Honesty rules, so that the ratios mean something:

- The same work as pxsh: the same counts, sizes and functions; results end up
  in this process (the peers' "local namespace"), as pxsh's end up in its home
  engine; each result is checked once, outside the timed region.
- Each peer's idiomatic, fastest documented way, with its default settings,
  and a tuned setting where it has one (the chunk size of a map).
- One untimed warm-up before each timed series, as pxsh does.

Standard input is a pipe that pxsh holds open. When it closes (pxsh exited or
was killed), the script kills every process it started and exits, so that no
ipyparallel controller or engine is left behind.
"""

import argparse
import math
import os
import signal
import sys
import threading
import time

perf_counter = time.perf_counter


# --------------------------------------------------------------------------
# Output

_reported = set()  # the measures that have a sample, skip or fail line
_selection = []  # measure ids or prefixes to run (--only); empty: all


def wanted(*measures):
    """Whether any of measures is selected (pxsh's BenchPlan.includes)."""
    return not _selection or any(
        measure == prefix or measure.startswith(prefix + ".") or measure.startswith(prefix + "_")
        for measure in measures for prefix in _selection)


def emit(kind, *fields):
    text = "\t".join(str(field).replace("\t", " ").replace("\n", " ") for field in (kind,) + fields)
    print(text, flush=True)


def sample(measure, setting, values):
    if not wanted(measure):
        return
    _reported.add(measure)
    emit("sample", measure, setting, " ".join(repr(float(value)) for value in values))


def skip(measure, reason):
    if not wanted(measure):
        return
    _reported.add(measure)
    emit("skip", measure, reason)


class section:
    """Runs a group of measurements; if one raises, its unreported measures fail and the run goes on."""

    def __init__(self, *measures):
        self.measures = measures

    @property
    def wanted(self):
        return wanted(*self.measures)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if error is None or not isinstance(error, Exception):
            return False
        import traceback
        traceback.print_exception(kind, error, trace)  # to stderr: pxsh keeps the last lines
        for measure in self.measures:
            if measure not in _reported:
                _reported.add(measure)
                emit("fail", measure, f"{kind.__name__}: {error}")
        return True


def log(text):
    print(text, file=sys.stderr, flush=True)


def timed(function):
    """Seconds that one call of function() takes, and its result."""
    start = perf_counter()
    result = function()
    return perf_counter() - start, result


# --------------------------------------------------------------------------
# Processes

def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain anything; fields resume after the last ")".
    return int(text[text.rindex(b")") + 2:].split()[1])


def descendants(ancestor):
    """Every live descendant of ancestor: children, grandchildren, ..."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            parent = parent_of(int(name))
            if parent is not None:
                children.setdefault(parent, []).append(int(name))
    found, frontier = [], [ancestor]
    while frontier:
        direct = children.get(frontier.pop(), [])
        found += direct
        frontier += direct
    return found


def resident_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024  # the kernel's kB are KiB
    except OSError:
        pass
    return None


def proportional_bytes(pid):
    """The proportional set size: shared pages divided among the processes sharing them, so that a sum over
    processes counts each page once. Falls back to the RSS where smaps_rollup is missing."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resident_bytes(pid)


def kill_descendants():
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def watch_parent():
    """Leave nothing behind when pxsh goes away: its end of our stdin closes."""
    def watch():
        # os.read, not sys.stdin: a thread blocked inside the buffered reader holds its lock, which
        # deadlocks forked Pool workers (they close sys.stdin) and aborts the interpreter at exit.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        kill_descendants()
        os._exit(3)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


# --------------------------------------------------------------------------
# The work, defined at module level so that multiprocessing can pickle it

def identity(x):
    return x


def noop(_):
    return None


def nothing():
    return None


def call_runs(plan, call):
    """Seconds per call of call() (one submit and its result), after the warm-up calls."""
    for _ in range(plan.round_trip_warmup):
        call()
    return [timed(call)[0] for _ in range(plan.call_count)]


def whole_program(command):
    """Seconds that a program takes from start to exit."""
    import subprocess
    start_time = perf_counter()
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return perf_counter() - start_time


def skip_pxsh_only(plan, *others):
    """Rows that only pxsh has: a peer runs a local line in its own process, with no round trip."""
    skip("local_line", "a plain line runs in the peer's own process")
    for measure in ("python_start.site", "python_start.bare"):
        skip(measure, "Python's own start: the same interpreter for every system")
    # The Python API's rows: the peers' own Python calls are the rows "call" and "px_pass".
    for measure in ("py_call", "py_call_ratio", "py_apply_async", "py_execute.n4", "py_execute_ratio.n4"):
        skip(measure, "pxsh's Python client (px); the peer's Python calls are the call and %px pass rows")
    for measure in others:
        skip(measure, "measured for multiprocessing only")


def check(condition, what):
    if not condition:
        raise AssertionError(f"wrong result: {what}")


# --------------------------------------------------------------------------
# ipyparallel

def run_ipyparallel(plan):
    try:
        import ipyparallel as ipp
    except ImportError as error:
        emit("unavailable", f"cannot import ipyparallel ({error}); see `pxsh bench --help` for --install-peers")
        return
    import logging
    emit("info", "version", ipp.__version__)
    skip_pxsh_only(plan, "cli.n4")

    def start(n):
        cluster = ipp.Cluster(n=n, log_level=logging.ERROR)
        return cluster, cluster.start_and_connect_sync()

    def stop(cluster, client):
        client.close()
        cluster.stop_cluster_sync()

    # Cold start: Cluster(n).start_and_connect_sync() (which waits for the n engines), then a first
    # result from all of them. One untimed warm-up start fills the OS caches, as pxsh's does.
    with section(*(f"cold_start.n{n}" for n in plan.cold_start_engines)) as part:
        if part.wanted:
            stop(*start(plan.cold_start_engines[0]))
        for n in plan.cold_start_engines:
            if not wanted(f"cold_start.n{n}"):
                continue
            runs = []
            for _ in range(plan.cold_start_runs):
                start_time = perf_counter()
                cluster, client = start(n)
                try:
                    client[:].execute("pass", block=True)
                    runs.append(perf_counter() - start_time)
                    check(len(client.ids) == n, f"{len(client.ids)} engines, not {n}")
                finally:
                    stop(cluster, client)
            sample(f"cold_start.n{n}",
                   "ipp.Cluster(n).start_and_connect_sync() + rc[:].execute('pass', block=True)", runs)

    # %px pass: a blocking execute on a DirectView, one call at a time.
    with section(*(f"px_pass.n{n}" for n in plan.round_trip_engines)) as part:
        cluster, client = start(max(plan.round_trip_engines)) if part.wanted else (None, None)
        try:
            for n in plan.round_trip_engines:
                if not wanted(f"px_pass.n{n}"):
                    continue
                view = client[list(range(n))]
                for _ in range(plan.round_trip_warmup):
                    view.execute("pass", block=True)
                runs = [timed(lambda: view.execute("pass", block=True))[0] for _ in range(plan.round_trip_calls)]
                sample(f"px_pass.n{n}", "DirectView.execute('pass', block=True)", runs)
        finally:
            if cluster is not None:
                stop(cluster, client)

    with section(*data_measures(plan)) as part:
        if not part.wanted:
            return
        cluster, client = start(plan.engines)
        try:
            view = client[:]
            view.execute("pass", block=True)
            with section("rss.engine", "pss.cluster") as part:
                if part.wanted:
                    ipyparallel_memory(view)
            with section("call") as part:
                if part.wanted:
                    balanced = client.load_balanced_view()
                    sample("call", "LoadBalancedView.apply_sync(abs, 1)",
                           call_runs(plan, lambda: balanced.apply_sync(abs, 1)))
            with section("map.chunk1", "map.auto") as part:
                if part.wanted:
                    ipyparallel_maps(plan, client.load_balanced_view())
            for size in plan.transfer_sizes:
                with section(f"push.{size // 10**6}MB", f"pull.{size // 10**6}MB") as part:
                    if part.wanted:
                        ipyparallel_transfers(plan, view, size)
            for kind in ("range", "list"):
                with section(f"scatter.{kind}", f"gather.{kind}") as part:
                    if part.wanted:
                        ipyparallel_scatter_gather(plan, view, kind)
        finally:
            stop(cluster, client)


def ipyparallel_memory(view):
    """Idle engines, and everything the cluster runs: controller, schedulers, engines, nannies (not this client)."""
    pids = view.apply_sync(os.getpid)
    sample("rss.engine", "an engine process after start and one execute", [resident_bytes(pid) for pid in pids])
    sample("pss.cluster", "PSS of controller, schedulers, engines and nannies",
           [sum(proportional_bytes(pid) or 0 for pid in descendants(os.getpid()))])


def ipyparallel_maps(plan, balanced):
    """chunksize 1 is ipyparallel's default; the tuned chunk size is the "four chunks per engine" that
    pxsh's auto and Pool.map's default use."""
    function = lambda x: x  # noqa: E731 -- pxsh maps the same lambda; ipyparallel ships it by value
    balanced.map_sync(function, range(100), chunksize=1)
    measure_maps(
        plan,
        (("map.chunk1", plan.chunk_one_tasks, 1, "(its default)"),
         ("map.auto", plan.auto_items, plan.auto_chunk, "(tuned)")),
        lambda n, chunk: balanced.map_sync(function, range(n), chunksize=chunk),
        lambda n, chunk, setting: f"LoadBalancedView.map_sync(f, range({n}), chunksize={chunk}) {setting}",
    )


def measure_maps(plan, settings, run_map, describe):
    """Times run_map(n, chunk) over range(n) for each (measure, n, chunk, setting), in items per second."""
    for measure, n, chunk, setting in settings:
        if not wanted(measure):
            continue
        runs = []
        for _ in range(plan.map_runs):
            seconds, values = timed(lambda: run_map(n, chunk))
            runs.append(n / seconds)
        check(values == list(range(n)), measure)
        sample(measure, describe(n, chunk, setting), runs)


def ipyparallel_transfers(plan, view, size):
    """Push and pull of a numpy array: bytes moved to (or from) all targets, per second."""
    try:
        import numpy
    except ImportError:
        for name in ("push", "pull"):
            skip(f"{name}.{size // 10**6}MB", "numpy is not importable")
        return
    array = numpy.ones(size // 8)
    moved = array.nbytes * len(view.targets)
    view.push({"a": array}, block=True)
    runs = [moved / timed(lambda: view.push({"a": array}, block=True))[0] / 1e9 for _ in range(plan.transfer_runs)]
    sample(f"push.{size // 10**6}MB", "DirectView.push({'a': array}, block=True)", runs)
    view.pull("a", block=True)
    runs = []
    for _ in range(plan.transfer_runs):
        seconds, pulled = timed(lambda: view.pull("a", block=True))
        runs.append(moved / seconds / 1e9)
    check([part.nbytes for part in pulled] == [array.nbytes] * len(view.targets), "pull")
    sample(f"pull.{size // 10**6}MB", "DirectView.pull('a', block=True)", runs)
    view.execute("del a", block=True)


def ipyparallel_scatter_gather(plan, view, kind):
    items = plan.scatter_items
    value = range(items) if kind == "range" else list(range(items))
    view.scatter("x", value, block=True)
    runs = [timed(lambda: view.scatter("x", value, block=True))[0] for _ in range(plan.scatter_runs)]
    sample(f"scatter.{kind}", "DirectView.scatter('x', value, block=True)", runs)
    view.gather("x", block=True)
    runs = []
    for _ in range(plan.scatter_runs):
        seconds, gathered = timed(lambda: view.gather("x", block=True))
        runs.append(seconds)
    # ipyparallel gathers the engines' ranges as a list of ranges, without flattening them.
    flat = [x for part in gathered for x in part] if kind == "range" else gathered
    check(flat == list(range(items)), f"gather {kind}")
    note = " (returns the list of the engines' ranges)" if kind == "range" else ""
    sample(f"gather.{kind}", "DirectView.gather('x', block=True)" + note, runs)
    view.execute("del x", block=True)


def data_measures(plan):
    return (["rss.engine", "pss.cluster", "call", "map.chunk1", "map.auto"]
            + [f"{name}.{size // 10**6}MB" for size in plan.transfer_sizes for name in ("push", "pull")]
            + ["scatter.range", "gather.range", "scatter.list", "gather.list"])


# --------------------------------------------------------------------------
# multiprocessing

def run_multiprocessing(plan):
    import multiprocessing

    method = multiprocessing.get_start_method()
    emit("info", "version", f"Python {sys.version.split()[0]}, start method {method}")

    # Cold start: Pool(n) to a first result from a map with one task per worker. Pool() starts all
    # its workers before it returns.
    with section(*(f"cold_start.n{n}" for n in plan.cold_start_engines)) as part:
        if part.wanted:
            with multiprocessing.Pool(plan.cold_start_engines[0]) as pool:
                pool.map(noop, range(plan.cold_start_engines[0]), chunksize=1)
        for n in plan.cold_start_engines:
            if not wanted(f"cold_start.n{n}"):
                continue
            runs = []
            for _ in range(plan.cold_start_runs):
                start_time = perf_counter()
                pool = multiprocessing.Pool(n)
                try:
                    pool.map(noop, range(n), chunksize=1)
                    runs.append(perf_counter() - start_time)
                finally:
                    pool.terminate()
                    pool.join()
            sample(f"cold_start.n{n}", f"Pool(n) + map(noop, range(n), chunksize=1), start method {method}", runs)

    for n in plan.round_trip_engines:
        skip(f"px_pass.n{n}", "a Pool cannot address its workers: no %px")
    skip_pxsh_only(plan)

    # The whole program, as `pxsh -n 4 -c '%px pass'` is measured: a python that forks Pool(4) and maps.
    with section("cli.n4") as part:
        if part.wanted:
            code = "import multiprocessing as m; m.get_context('fork').Pool(4).map(abs, range(4), chunksize=1)"
            command = [sys.executable, "-c", code]
            whole_program(command)
            sample("cli.n4", f"python -c \"{code}\" (the whole process)",
                   [whole_program(command) for _ in range(plan.cold_start_runs)])

    with section("rss.engine", "pss.cluster", "call", "map.chunk1", "map.auto") as part:
        if part.wanted:
            with multiprocessing.Pool(plan.engines) as pool:
                pool.map(noop, range(plan.engines), chunksize=1)
                with section("rss.engine", "pss.cluster") as part:
                    if part.wanted:
                        multiprocessing_memory(pool)
                with section("call") as part:
                    if part.wanted:
                        sample("call", "Pool.apply(abs, (1,))", call_runs(plan, lambda: pool.apply(abs, (1,))))
                with section("map.chunk1", "map.auto") as part:
                    if part.wanted:
                        multiprocessing_maps(plan, pool)

    for size in plan.transfer_sizes:
        for name in ("push", "pull"):
            skip(f"{name}.{size // 10**6}MB", "a Pool's workers keep no namespace to push to")
    for name in ("scatter.range", "gather.range", "scatter.list", "gather.list"):
        skip(name, "a Pool's workers keep no namespace to scatter to")


def multiprocessing_memory(pool):
    # Pool._pool (the worker processes) is private, but has been there since Python 2.6.
    workers = [process.pid for process in getattr(pool, "_pool", [])] or descendants(os.getpid())
    sample("rss.engine", "a Pool worker after start and one task", [resident_bytes(pid) for pid in workers])
    sample("pss.cluster", "PSS of the Pool's workers and helpers",
           [sum(proportional_bytes(pid) or 0 for pid in descendants(os.getpid()))])


def multiprocessing_maps(plan, pool):
    pool.map(identity, range(100), chunksize=1)
    measure_maps(
        plan,
        (("map.chunk1", plan.chunk_one_tasks, 1, "chunksize=1"),
         ("map.auto", plan.auto_items, None, f"its default chunksize, {plan.auto_chunk}")),
        lambda n, chunk: pool.map(identity, range(n), chunksize=chunk),
        lambda n, chunk, setting: f"Pool.map(f, range({n})) ({setting})",
    )


# --------------------------------------------------------------------------
# concurrent.futures and loky: executors of worker processes

def executor_maker(system):
    """(make, name): make(n) starts an executor of n workers, concurrent.futures' or loky's. Prints the
    version line, or the unavailable line and returns (None, None)."""
    if system == "loky":
        try:
            import loky
        except ImportError as error:
            emit("unavailable", f"cannot import loky ({error}); see `pxsh bench --help` for --install-peers")
            return None, None
        emit("info", "version", loky.__version__)
        return (lambda n: loky.ProcessPoolExecutor(max_workers=n)), "loky.ProcessPoolExecutor(n)"
    import concurrent.futures
    import multiprocessing
    method = multiprocessing.get_start_method()
    emit("info", "version", f"Python {sys.version.split()[0]}, start method {method}")
    return (lambda n: concurrent.futures.ProcessPoolExecutor(max_workers=n)), "ProcessPoolExecutor(n)"


def run_executor(plan, system):
    """concurrent.futures.ProcessPoolExecutor (the standard library) or loky's reusable executor."""
    make, name = executor_maker(system)
    if make is None:
        return
    skip_pxsh_only(plan, "cli.n4")
    for n in plan.round_trip_engines:
        skip(f"px_pass.n{n}", "an executor cannot address its workers: no broadcast")
    for size in plan.transfer_sizes:
        for kind in ("push", "pull"):
            skip(f"{kind}.{size // 10**6}MB", "an executor's workers keep no namespace to push to")
    for kind in ("scatter.range", "gather.range", "scatter.list", "gather.list"):
        skip(kind, "an executor's workers keep no namespace to scatter to")

    # Cold start: the executor to a first result of a map with one task per worker (an executor
    # may start its workers on demand; the map makes it start them).
    with section(*(f"cold_start.n{n}" for n in plan.cold_start_engines)) as part:
        if part.wanted:
            with make(plan.cold_start_engines[0]) as executor:
                list(executor.map(noop, range(plan.cold_start_engines[0])))
        for n in plan.cold_start_engines:
            if not wanted(f"cold_start.n{n}"):
                continue
            runs = []
            for _ in range(plan.cold_start_runs):
                start_time = perf_counter()
                executor = make(n)
                try:
                    list(executor.map(noop, range(n)))
                    runs.append(perf_counter() - start_time)
                finally:
                    executor.shutdown(wait=True)
            sample(f"cold_start.n{n}", f"{name} + list(map(noop, range(n)))", runs)

    with section("rss.engine", "pss.cluster", "call", "map.chunk1", "map.auto") as part:
        if not part.wanted:
            return
        with make(plan.engines) as executor:
            list(executor.map(noop, range(plan.engines)))
            with section("rss.engine", "pss.cluster") as part:
                if part.wanted:
                    pids = [process.pid for process in getattr(executor, "_processes", {}).values()]
                    pids = pids or descendants(os.getpid())
                    sample("rss.engine", "a worker after start and one task", [resident_bytes(pid) for pid in pids])
                    sample("pss.cluster", "PSS of the workers and helpers",
                           [sum(proportional_bytes(pid) or 0 for pid in descendants(os.getpid()))])
            with section("call") as part:
                if part.wanted:
                    sample("call", "executor.submit(abs, 1).result()",
                           call_runs(plan, lambda: executor.submit(abs, 1).result()))
            with section("map.chunk1", "map.auto") as part:
                if part.wanted:
                    executor.map(identity, range(100))
                    measure_maps(
                        plan,
                        (("map.chunk1", plan.chunk_one_tasks, 1, "chunksize=1, its default"),
                         ("map.auto", plan.auto_items, plan.auto_chunk, f"chunksize={plan.auto_chunk}, tuned")),
                        lambda n, chunk: list(executor.map(identity, range(n), chunksize=chunk)),
                        lambda n, chunk, setting: f"list(executor.map(f, range({n}), {setting}))",
                    )


def input_lines():
    """The lines of standard input, until it closes. os.read, as watch_parent does, and only between
    blocks: no reader holds sys.stdin's lock while the executor forks its workers."""
    pending = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except OSError:
            return
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line.decode()


def serve_call_blocks(plan, system):
    """--serve-call-blocks: the executor's call, timed in blocks on request, so that pxsh can run them
    between blocks of its own and judge a ratio taken side by side.

    Each line "calls N LEAD_IN" on standard input is answered with a sample line for "call": N calls of
    submit(abs, 1).result(), timed one by one after LEAD_IN untimed ones. The executor is started and
    warmed up once, and kept from block to block. The end of standard input ends the script.
    """
    make, _ = executor_maker(system)
    if make is None:
        return
    with make(plan.engines) as executor:
        list(executor.map(noop, range(plan.engines)))

        def call():
            return executor.submit(abs, 1).result()

        for _ in range(plan.round_trip_warmup):
            call()
        check(call() == 1, "call")
        for line in input_lines():
            fields = line.split()
            if len(fields) != 3 or fields[0] != "calls" or not all(field.isdigit() for field in fields[1:]):
                emit("fail", "call", f"not a request: {line!r} (expected 'calls N LEAD_IN')")
                return
            calls, lead_in = int(fields[1]), int(fields[2])
            for _ in range(lead_in):
                call()
            emit("sample", "call", "executor.submit(abs, 1).result()",
                 " ".join(repr(timed(call)[0]) for _ in range(calls)))


# --------------------------------------------------------------------------
# dask.distributed

def run_dask(plan):
    try:
        import dask
        import distributed
    except ImportError as error:
        emit("unavailable",
             f"cannot import dask.distributed ({error}); see `pxsh bench --help` for --install-peers")
        return
    import logging
    emit("info", "version", f"dask {dask.__version__}, distributed {distributed.__version__}")
    skip_pxsh_only(plan, "cli.n4")
    skip("map.auto", "Client.map has no chunk size")
    for kind in ("scatter.range", "gather.range", "scatter.list", "gather.list"):
        skip(kind, "dask scatters whole values, not blocks of a sequence")
    for size in plan.transfer_sizes:
        skip(f"pull.{size // 10**6}MB", "measured as push only (scatter with broadcast=True)")

    def start(n):
        # Processes with one thread each, as pxsh's engines; no dashboard, quiet logs.
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        return cluster, distributed.Client(cluster)

    def stop(cluster, client):
        client.close()
        cluster.close()

    with section(*(f"cold_start.n{n}" for n in plan.cold_start_engines)) as part:
        if part.wanted:
            stop(*start(plan.cold_start_engines[0]))
        for n in plan.cold_start_engines:
            if not wanted(f"cold_start.n{n}"):
                continue
            runs = []
            for _ in range(plan.cold_start_runs):
                start_time = perf_counter()
                cluster, client = start(n)
                try:
                    answers = client.run(nothing)
                    runs.append(perf_counter() - start_time)
                    check(len(answers) == n, f"{len(answers)} workers, not {n}")
                finally:
                    stop(cluster, client)
            sample(f"cold_start.n{n}",
                   "LocalCluster(n_workers=n, threads_per_worker=1, processes=True) + Client + client.run(f)", runs)

    with section(*(f"px_pass.n{n}" for n in plan.round_trip_engines)) as part:
        if part.wanted:
            cluster, client = start(max(plan.round_trip_engines))
            try:
                addresses = sorted(client.scheduler_info()["workers"])
                for n in plan.round_trip_engines:
                    if not wanted(f"px_pass.n{n}"):
                        continue
                    workers = addresses[:n]
                    for _ in range(plan.round_trip_warmup):
                        client.run(nothing, workers=workers)
                    runs = [timed(lambda: client.run(nothing, workers=workers))[0]
                            for _ in range(plan.round_trip_calls)]
                    sample(f"px_pass.n{n}", "client.run(f, workers=[...n])", runs)
            finally:
                stop(cluster, client)

    measures = (["rss.engine", "pss.cluster", "call", "map.chunk1"]
                + [f"push.{size // 10**6}MB" for size in plan.transfer_sizes])
    with section(*measures) as part:
        if not part.wanted:
            return
        cluster, client = start(plan.engines)
        try:
            client.run(nothing)
            with section("rss.engine", "pss.cluster") as part:
                if part.wanted:
                    pids = list(client.run(os.getpid).values())
                    sample("rss.engine", "a worker process after start and one run",
                           [resident_bytes(pid) for pid in pids])
                    sample("pss.cluster", "PSS of the scheduler's helpers, nannies and workers",
                           [sum(proportional_bytes(pid) or 0 for pid in descendants(os.getpid()))])
            with section("call") as part:
                if part.wanted:
                    sample("call", "client.submit(abs, 1, pure=False).result()",
                           call_runs(plan, lambda: client.submit(abs, 1, pure=False).result()))
            with section("map.chunk1") as part:
                if part.wanted:
                    client.gather(client.map(identity, range(100), pure=False))
                    measure_maps(
                        plan,
                        (("map.chunk1", plan.chunk_one_tasks_ipyparallel, 1, ""),),
                        lambda n, chunk: client.gather(client.map(identity, range(n), pure=False)),
                        lambda n, chunk, setting: f"client.gather(client.map(f, range({n}), pure=False))",
                    )
            for size in plan.transfer_sizes:
                with section(f"push.{size // 10**6}MB") as part:
                    if part.wanted:
                        dask_broadcast(plan, client, size)
        finally:
            stop(cluster, client)


def dask_broadcast(plan, client, size):
    """A numpy array to every worker: scatter(broadcast=True), bytes held by all workers per second."""
    try:
        import numpy
    except ImportError:
        skip(f"push.{size // 10**6}MB", "numpy is not importable")
        return
    import distributed
    array = numpy.ones(size // 8)
    workers = len(client.scheduler_info()["workers"])
    moved = array.nbytes * workers

    def push():
        future = client.scatter(array, broadcast=True, hash=False)
        distributed.wait(future)
        return future

    future = push()
    check(len(client.who_has(future)[future.key]) == workers, "scatter broadcast")
    del future
    runs = []
    for _ in range(plan.transfer_runs):
        seconds, future = timed(push)
        runs.append(moved / seconds / 1e9)
        del future
    sample(f"push.{size // 10**6}MB", "client.scatter(array, broadcast=True, hash=False) + wait", runs)


# --------------------------------------------------------------------------
# Command line

def integers(text):
    return [int(part) for part in text.split(",") if part]


def parse(arguments):
    parser = argparse.ArgumentParser(description="pxsh bench's peer measurements")
    parser.add_argument("system", choices=["ipyparallel", "multiprocessing", "concurrent.futures", "loky", "dask"])
    parser.add_argument("--cold-start-engines", type=integers, required=True)
    parser.add_argument("--cold-start-runs", type=int, required=True)
    parser.add_argument("--round-trip-engines", type=integers, required=True)
    parser.add_argument("--round-trip-calls", type=int, required=True)
    parser.add_argument("--round-trip-warmup", type=int, required=True)
    parser.add_argument("--engines", type=int, required=True)
    parser.add_argument("--chunk-one-tasks", type=int, required=True)
    parser.add_argument("--chunk-one-tasks-ipyparallel", type=int, required=True)
    parser.add_argument("--call-count", type=int, required=True)
    parser.add_argument("--auto-items", type=int, required=True)
    parser.add_argument("--map-runs", type=int, required=True)
    parser.add_argument("--transfer-sizes", type=integers, required=True)
    parser.add_argument("--transfer-runs", type=int, required=True)
    parser.add_argument("--scatter-items", type=int, required=True)
    parser.add_argument("--scatter-runs", type=int, required=True)
    parser.add_argument("--only", type=lambda text: [part for part in text.split(",") if part], default=[])
    parser.add_argument("--serve-call-blocks", action="store_true",
                        help="time the executor's call in blocks asked for on stdin (concurrent.futures, loky)")
    plan = parser.parse_args(arguments)
    # Pool.map's default chunk size, which pxsh's auto and ipyparallel's tuned setting copy.
    plan.auto_chunk = max(1, math.ceil(plan.auto_items / (4 * plan.engines)))
    return plan


def main():
    plan = parse(sys.argv[1:])
    if plan.serve_call_blocks:
        if plan.system not in ("concurrent.futures", "loky"):
            sys.exit(f"--serve-call-blocks: {plan.system} is not an executor")
        try:
            serve_call_blocks(plan, plan.system)
        finally:
            kill_descendants()
        return
    _selection.extend(plan.only)
    watch_parent()
    try:
        if plan.system == "ipyparallel":
            run_ipyparallel(plan)
        elif plan.system == "dask":
            run_dask(plan)
        elif plan.system in ("concurrent.futures", "loky"):
            run_executor(plan, plan.system)
        else:
            run_multiprocessing(plan)
    finally:
        kill_descendants()


if __name__ == "__main__":
    main()
