#!/usr/bin/env python3
"""Compare versions of the Python client on one blocking round trip, in paired blocks.

    scripts/client-ab.py CLUSTER NAME=PYTHON_DIR [NAME=PYTHON_DIR ...] [--rounds N] [--raw]

Each NAME=PYTHON_DIR is a directory holding a `pxsh` package (a checkout's `python/`, or a copy of
an older one: `git archive COMMIT python/pxsh | tar -x -C /tmp/old`). All are loaded side by side
in this one Python, each with its own connection to the named cluster, and run blocks of 50
`view.execute("pass", block=True)` in turn (after 10 untimed; the order reversed every other round).
The figure to read is the paired ratio: the median over rounds of each block's median over the first
version's block of the same round. The machine's drift (±5% over minutes on a 2-CPU VM) cancels out
of it, so two 400-round runs agree within about 0.3%, where one `pxsh bench` run reads the execute
ratio within ±0.05. `--raw` adds a raw loop on the first version's connection: a prebuilt submit,
`sendall`, `poll` and `recv_into` until the answer, which is what the client's own code is measured
against (docs/PYTHON_API.md).
"""
import argparse
import importlib.util
import os
import select
import statistics
import sys
import time


def load(name: str, directory: str):
    package = os.path.join(directory, "pxsh")
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(package, "__init__.py"), submodule_search_locations=[package])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class RawLoop:
    """The round trip with none of the client's work: what a call cannot do without."""

    def __init__(self, pxsh, client):
        self.protocol, self.client = pxsh.protocol, client
        self.ids = client.ids
        self.sock = client._sock
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)
        self.buffer = bytearray(1 << 18)
        self.decoder = self.protocol.FrameDecoder()

    def execute(self, code: str, block: bool = True) -> None:
        protocol, client = self.protocol, self.client
        request = client._next_request
        client._next_request += 1
        self.sock.sendall(protocol.encode_submission(
            protocol.OP_EXECUTE, request, self.ids, False, None, [code.encode()], (), True))
        replies = 0
        while True:
            self.poller.poll()
            received = self.sock.recv_into(self.buffer)
            for frame in self.decoder.decode(memoryview(self.buffer)[:received]):
                if frame.kind == protocol.ANSWER and frame.id == request:
                    return
                if frame.kind == protocol.REPLY:
                    replies += 1
                    if replies == len(self.ids):
                        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cluster")
    parser.add_argument("versions", nargs="+", metavar="NAME=PYTHON_DIR")
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    views = []
    for version in args.versions:
        name, _, directory = version.partition("=")
        pxsh = load(f"pxsh_{len(views)}", directory)
        client = pxsh.Client(cluster=args.cluster)
        views.append((name, client[:]))
        if args.raw and len(views) == 1:
            raw = (f"raw ({name})", RawLoop(pxsh, client))
    if args.raw:
        views.append(raw)
    for _, view in views:
        for _ in range(200):
            view.execute("pass", block=True)
    blocks = {name: [] for name, _ in views}
    clock = time.perf_counter
    for round_ in range(args.rounds):
        for name, view in (views if round_ % 2 == 0 else views[::-1]):
            for _ in range(10):
                view.execute("pass", block=True)
            samples = []
            for _ in range(50):
                began = clock()
                view.execute("pass", block=True)
                samples.append(clock() - began)
            blocks[name].append(statistics.median(samples))
    first = blocks[views[0][0]]
    for name, _ in views:
        ratio = statistics.median(mine / theirs for mine, theirs in zip(blocks[name], first))
        print(f"{name:16s} median block {statistics.median(blocks[name]) * 1e6:7.1f} µs   paired ratio {ratio:.4f}")


if __name__ == "__main__":
    main()
