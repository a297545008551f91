"""The peers' half of `pxsh bench --compare`: ipyparallel and multiprocessing doing pxsh's work.

pxsh writes this file next to its sockets and runs it with the peer python:

    python peer_bench.py ipyparallel|multiprocessing --cold-start-engines 2,4,8 ...

The options carry pxsh's plan, so every system does the same work. The script
prints tab-separated lines on stdout:

    info      KEY      VALUE
    sample    MEASURE  SETTING  v1 v2 ...
    skip      MEASURE  REASON
    unavailable        REASON

MEASURE names a row of pxsh's table (cold_start.n4, px_pass.n1, map.chunk1,
push.100MB, rss.engine, ...). A sample line holds every timed run of that row,
in the row's unit: seconds, tasks/s, items/s, GB/s (10**9 bytes/s) or bytes.
Anything else on stdout or stderr is a log line; pxsh shows the last ones if
the script fails.

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

def emit(kind, *fields):
    text = "\t".join(str(field).replace("\t", " ").replace("\n", " ") for field in (kind,) + fields)
    print(text, flush=True)


def sample(measure, setting, values):
    emit("sample", measure, setting, " ".join(repr(float(value)) for value in values))


def skip(measure, reason):
    emit("skip", measure, reason)


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


def kill_descendants():
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def watch_parent():
    """Leave nothing behind when pxsh goes away: its end of our stdin closes."""
    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
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
    quiet = logging.ERROR

    def start(n):
        cluster = ipp.Cluster(n=n, log_level=quiet)
        client = cluster.start_and_connect_sync()
        return cluster, client

    def stop(cluster, client):
        client.close()
        cluster.stop_cluster_sync()

    # Cold start: Cluster(n).start_and_connect_sync() (which waits for the n engines), then a first
    # result from all of them. One untimed warm-up start fills the OS caches, as pxsh's does.
    setting = "ipp.Cluster(n).start_and_connect_sync() + rc[:].execute('pass', block=True)"
    stop(*start(plan.cold_start_engines[0]))
    for n in plan.cold_start_engines:
        runs = []
        for _ in range(plan.cold_start_runs):
            start_time = perf_counter()
            cluster, client = start(n)
            client[:].execute("pass", block=True)
            runs.append(perf_counter() - start_time)
            check(len(client.ids) == n, f"{len(client.ids)} engines, not {n}")
            stop(cluster, client)
        sample(f"cold_start.n{n}", setting, runs)

    # %px pass: a blocking execute on a DirectView, one call at a time.
    cluster, client = start(max(plan.round_trip_engines))
    try:
        for n in plan.round_trip_engines:
            view = client[list(range(n))]
            for _ in range(plan.round_trip_warmup):
                view.execute("pass", block=True)
            runs = [timed(lambda: view.execute("pass", block=True))[0] for _ in range(plan.round_trip_calls)]
            sample(f"px_pass.n{n}", "DirectView.execute('pass', block=True)", runs)
    finally:
        stop(cluster, client)

    cluster, client = start(plan.engines)
    try:
        view = client[:]
        view.execute("pass", block=True)

        # Memory of idle engines, and of everything the cluster runs (controller, its schedulers,
        # engines and their nannies; not this client).
        pids = view.apply_sync(os.getpid)
        sample("rss.engine", "an engine process after start and one execute", [resident_bytes(pid) for pid in pids])
        sample("rss.cluster", "controller, schedulers, engines and nannies",
               [sum(resident_bytes(pid) or 0 for pid in descendants(os.getpid()))])

        # Load-balanced map: chunksize 1 is ipyparallel's default; the tuned chunk size is the same
        # "four chunks per engine" that pxsh's auto and Pool.map's default use.
        balanced = client.load_balanced_view()
        function = lambda x: x  # noqa: E731 -- pxsh maps the same lambda; ipyparallel ships it by value
        balanced.map_sync(function, range(100), chunksize=1)
        n = plan.chunk_one_tasks
        runs = []
        for _ in range(plan.map_runs):
            seconds, values = timed(lambda: balanced.map_sync(function, range(n), chunksize=1))
            runs.append(n / seconds)
        check(values == list(range(n)), "map chunksize 1")
        sample("map.chunk1", f"LoadBalancedView.map_sync(f, range({n}), chunksize=1) (its default)", runs)

        n = plan.auto_items
        chunk = plan.auto_chunk
        runs = []
        for _ in range(plan.map_runs):
            seconds, values = timed(lambda: balanced.map_sync(function, range(n), chunksize=chunk))
            runs.append(n / seconds)
        check(values == list(range(n)), "map with chunks")
        sample("map.auto", f"LoadBalancedView.map_sync(f, range({n}), chunksize={chunk}) (tuned)", runs)

        # Push and pull of numpy arrays: bytes moved to (or from) all targets, per second.
        try:
            import numpy
        except ImportError:
            for size in plan.transfer_sizes:
                for name in ("push", "pull"):
                    skip(f"{name}.{size // 10**6}MB", "numpy is not importable")
        else:
            for size in plan.transfer_sizes:
                array = numpy.ones(size // 8)
                moved = array.nbytes * len(view.targets)
                view.push({"a": array}, block=True)
                runs = [moved / timed(lambda: view.push({"a": array}, block=True))[0] / 1e9
                        for _ in range(plan.transfer_runs)]
                sample(f"push.{size // 10**6}MB", "DirectView.push({'a': array}, block=True)", runs)
                view.pull("a", block=True)
                runs = []
                for _ in range(plan.transfer_runs):
                    seconds, pulled = timed(lambda: view.pull("a", block=True))
                    runs.append(moved / seconds / 1e9)
                check([part.nbytes for part in pulled] == [array.nbytes] * len(view.targets), "pull")
                sample(f"pull.{size // 10**6}MB", "DirectView.pull('a', block=True)", runs)
                del array, pulled

        # Scatter and gather: a range, and a list of ints.
        items = plan.scatter_items
        for kind, value in (("range", range(items)), ("list", list(range(items)))):
            view.scatter("x", value, block=True)
            runs = [timed(lambda: view.scatter("x", value, block=True))[0] for _ in range(plan.scatter_runs)]
            sample(f"scatter.{kind}", "DirectView.scatter('x', value, block=True)", runs)
            view.gather("x", block=True)
            runs = []
            for _ in range(plan.scatter_runs):
                seconds, gathered = timed(lambda: view.gather("x", block=True))
                runs.append(seconds)
            check(list(gathered) == list(range(items)), f"gather {kind}")
            sample(f"gather.{kind}", "DirectView.gather('x', block=True)", runs)
    finally:
        stop(cluster, client)


# --------------------------------------------------------------------------
# multiprocessing

def run_multiprocessing(plan):
    import multiprocessing

    method = multiprocessing.get_start_method()
    emit("info", "version", f"Python {sys.version.split()[0]}, start method {method}")

    # Cold start: Pool(n) to a first result from a map with one task per worker. Pool() starts all
    # its workers before it returns.
    with multiprocessing.Pool(plan.cold_start_engines[0]) as pool:
        pool.map(noop, range(plan.cold_start_engines[0]), chunksize=1)
    for n in plan.cold_start_engines:
        runs = []
        for _ in range(plan.cold_start_runs):
            start_time = perf_counter()
            pool = multiprocessing.Pool(n)
            pool.map(noop, range(n), chunksize=1)
            runs.append(perf_counter() - start_time)
            pool.terminate()
            pool.join()
        sample(f"cold_start.n{n}", f"Pool(n) + map(noop, range(n), chunksize=1), start method {method}", runs)

    for n in plan.round_trip_engines:
        skip(f"px_pass.n{n}", "a Pool cannot address its workers: no %px")

    with multiprocessing.Pool(plan.engines) as pool:
        pool.map(noop, range(plan.engines), chunksize=1)
        # Pool._pool (the worker processes) is private, but has been there since Python 2.6.
        workers = [process.pid for process in getattr(pool, "_pool", [])] or descendants(os.getpid())
        sample("rss.engine", "a Pool worker after start and one task", [resident_bytes(pid) for pid in workers])
        sample("rss.cluster", "the Pool's workers and helpers",
               [sum(resident_bytes(pid) or 0 for pid in descendants(os.getpid()))])

        pool.map(identity, range(100), chunksize=1)
        n = plan.chunk_one_tasks
        runs = []
        for _ in range(plan.map_runs):
            seconds, values = timed(lambda: pool.map(identity, range(n), chunksize=1))
            runs.append(n / seconds)
        check(values == list(range(n)), "map chunksize 1")
        sample("map.chunk1", f"Pool.map(f, range({n}), chunksize=1)", runs)

        n = plan.auto_items
        runs = []
        for _ in range(plan.map_runs):
            seconds, values = timed(lambda: pool.map(identity, range(n)))
            runs.append(n / seconds)
        check(values == list(range(n)), "map with chunks")
        sample("map.auto", f"Pool.map(f, range({n})) (its default chunksize, {plan.auto_chunk})", runs)

    for size in plan.transfer_sizes:
        for name in ("push", "pull"):
            skip(f"{name}.{size // 10**6}MB", "a Pool's workers keep no namespace to push to")
    for name in ("scatter.range", "gather.range", "scatter.list", "gather.list"):
        skip(name, "a Pool's workers keep no namespace to scatter to")


# --------------------------------------------------------------------------
# Command line

def integers(text):
    return [int(part) for part in text.split(",") if part]


def parse(arguments):
    parser = argparse.ArgumentParser(description="pxsh bench's peer measurements")
    parser.add_argument("system", choices=["ipyparallel", "multiprocessing"])
    parser.add_argument("--cold-start-engines", type=integers, required=True)
    parser.add_argument("--cold-start-runs", type=int, required=True)
    parser.add_argument("--round-trip-engines", type=integers, required=True)
    parser.add_argument("--round-trip-calls", type=int, required=True)
    parser.add_argument("--round-trip-warmup", type=int, required=True)
    parser.add_argument("--engines", type=int, required=True)
    parser.add_argument("--chunk-one-tasks", type=int, required=True)
    parser.add_argument("--auto-items", type=int, required=True)
    parser.add_argument("--map-runs", type=int, required=True)
    parser.add_argument("--transfer-sizes", type=integers, required=True)
    parser.add_argument("--transfer-runs", type=int, required=True)
    parser.add_argument("--scatter-items", type=int, required=True)
    parser.add_argument("--scatter-runs", type=int, required=True)
    plan = parser.parse_args(arguments)
    # Pool.map's default chunk size, which pxsh's auto and ipyparallel's tuned setting copy.
    plan.auto_chunk = max(1, math.ceil(plan.auto_items / (4 * plan.engines)))
    return plan


def main():
    plan = parse(sys.argv[1:])
    watch_parent()
    try:
        if plan.system == "ipyparallel":
            run_ipyparallel(plan)
        else:
            run_multiprocessing(plan)
    finally:
        kill_descendants()


if __name__ == "__main__":
    main()
