import PxPlatform
import PxSecurity
import PxWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// Engines on other "hosts": network namespaces joined by veth pairs, each with its own address.
    /// The engines join with `pxsh engine --connection-file`, as a launcher or a person starts them.
    @Suite(.serialized) struct RemoteEngines {
        /// A named cluster that takes engines at `host`'s link, with one local engine.
        static func startCluster(facing host: NetworkHost) throws -> NamedCluster {
            try NamedCluster.start(engines: 1, prefix: "tcp", extra: ["--ip", host.localAddress])
        }

        /// A "host" and a named cluster that takes engines at its link, with one local engine, for
        /// `body`; then the cluster stops, leaving nothing running anywhere, and the host goes.
        static func withClusterFacingAHost(_ body: (NetworkHost, NamedCluster) throws -> Void) throws {
            let host = try NetworkHost()
            defer { host.remove() }
            let cluster = try startCluster(facing: host)
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            try body(host, cluster)
        }

        /// `pxsh cluster connection --name NAME`, checked and returned.
        static func connectionFile(of cluster: NamedCluster) throws -> String {
            let run = try Pxsh.run(["cluster", "connection", "--name", cluster.name])
            try #require(run.status == .exited(0), "\(run.transcript)")
            _ = try ConnectionFile(json: Array(run.stdout.utf8))
            return run.stdout
        }

        /// One engine on each of `hosts`, joined to `cluster` (which listens on every address), in
        /// order; each with its id.
        static func startEngines(
            on hosts: [NetworkHost],
            in cluster: NamedCluster
        ) throws -> [(process: ChildProcess, id: Int)] {
            var file = try ConnectionFile(json: Array(try connectionFile(of: cluster).utf8))
            var engines: [(process: ChildProcess, id: Int)] = []
            for host in hosts {
                file.address = host.localAddress
                let engine = try host.startPxsh(
                    ["engine", "--connection-file", "-"],
                    token: cluster.token,
                    input: file.json
                )
                engines.append((engine, try waitForEngine(from: host.address, in: cluster, engine: engine)))
            }
            return engines
        }

        /// Writes `text` to a new mode-0600 file in `directory`.
        static func privateFile(_ text: String, in directory: TemporaryDirectory, named name: String) throws -> String {
            let path = directory.path + "/" + name
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            try #require(fd >= 0, "create \(path)")
            defer { close(fd) }
            _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            return path
        }

        /// Waits until the engine table shows an idle engine from `address`; returns its id.
        static func waitForEngine(from address: String, in cluster: NamedCluster, engine: ChildProcess) throws -> Int {
            var id: Int?
            _ = try eventually(timeout: 90) {
                let status = try Pxsh.run(["cluster", "status", "--name", cluster.name])
                for line in status.stdout.split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    if fields.count >= 7, fields.last.map(String.init) == address, fields[3] == "idle" {
                        id = Int(fields[0])
                    }
                }
                return id != nil || engine.hasExited
            }
            return try #require(id, "no engine from \(address) joined:\n\(engine.transcript)\n\(cluster.controllerLog)")
        }

        static func fileMode(_ path: String) -> mode_t? {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return info.st_mode & 0o777
        }

        // MARK: - Joining

        @Test func anEngineJoinsFromAnotherHostAndItsOutputComesInOrderWithResults() throws {
            try Self.withClusterFacingAHost { host, cluster in
                #expect(Self.fileMode(cluster.directory + "/cluster.key") == 0o600)
                #expect(Self.fileMode(cluster.directory + "/connection.json") == 0o600)
                let file = try Self.connectionFile(of: cluster)
                #expect(file.contains("\"address\": \"\(host.localAddress)\""), "\(file)")
                // Over standard input: the key is on no command line.
                let engine = try host.startPxsh(
                    ["engine", "--connection-file", "-"],
                    token: cluster.token,
                    input: file
                )
                let id = try Self.waitForEngine(from: host.address, in: cluster, engine: engine)
                let key = try ConnectionFile(json: Array(file.utf8)).key.hex
                let commandLines = ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(cluster.token)").map(
                    \.commandLine
                )
                #expect(!commandLines.isEmpty && !commandLines.contains { $0.contains(key) }, "\(commandLines)")
                #expect(!ProcessTable.environment(of: engine.pid).contains { $0.contains(key) })

                let run = try cluster.script(
                    """
                    %px -t \(id) import os, sys; print("python", rank); sys.stdout.flush(); os.system("echo fd-level"); print("err", file=sys.stderr)
                    %px -t \(id) rank * 10
                    %push big=bytearray(200000)
                    %px -t \(id) print("got", len(big))
                    %engines
                    """
                )
                expectStatus(run, .exited(0))
                let lines = run.lines
                // One engine's lines: "[stdout:1]" and then each line on its own.
                let python = lines.firstIndex(of: "python \(id)")
                let fdLevel = lines.firstIndex { $0.contains("fd-level") }
                let err = lines.firstIndex(of: "[stderr:\(id)] err")
                let result = lines.firstIndex(of: "Out[\(id):2]: \(id * 10)")
                try #require(python != nil && fdLevel != nil && err != nil && result != nil, "\(run.transcript)")
                #expect(lines[python! - 1] == "[stdout:\(id)]", "\(run.transcript)")
                #expect(python! < fdLevel! && fdLevel! < result! && err! < result!, "\(run.transcript)")
                // 200 kB travel in shared memory between local processes, inline to another host.
                #expect(lines.contains("[stdout:\(id)] got 200000"), "\(run.transcript)")
                let rows = lines.map { $0.split(separator: " ").map(String.init) }
                #expect(rows.contains { $0.first == "\(id)" && $0.last == host.address }, "\(run.transcript)")
                #expect(rows.contains { $0.first == "0" && $0.last == "local" }, "\(run.transcript)")

                // %restart of all restarts the local engine, and says why it cannot restart the remote one.
                let restart = try cluster.script("%restart")
                expectStatus(restart, .exited(1))
                #expect(
                    restart.output.contains("restarted engine 0 (its variables are lost)"),
                    "\(restart.transcript)"
                )
                #expect(
                    restart.output.contains(
                        "cannot restart engine \(id) (rank \(id), host \(host.address)): it joined from"
                    ),
                    "\(restart.transcript)"
                )
                #expect(!engine.hasExited, "\(engine.transcript)")
            }
        }

        /// 100 MiB pushed to an engine on another host and pulled back arrive intact, and the
        /// controller, which relays them, holds about one copy at a time: it peaked at 3 copies for
        /// the push and 4 for the pull, as its receive buffer doubled its way up and each frame was
        /// copied out of it and into the queue of the peer it went to (D7).
        @Test func largeBuffersToAndFromAnotherHostTakeOneCopyInTheController() throws {
            try Self.withClusterFacingAHost { host, cluster in
                let engine = try Self.startEngines(on: [host], in: cluster)[0]
                let id = engine.id
                let controller = try #require(cluster.controllerPID)
                let before = try #require(Self.peakMemory(of: controller))
                let mebibytes = 100
                let run = try cluster.script(
                    """
                    payload = bytes(range(256)) * (\(mebibytes) << 12)
                    %push -t \(id) big=payload
                    %pull -t \(id) big
                    print("intact", big == [payload])
                    """,
                    timeout: 180
                )
                expectStatus(run, .exited(0))
                #expect(run.lines.contains("intact True"), "\(run.transcript)")
                #expect(!engine.process.hasExited, "\(engine.process.transcript)")
                let peak = try #require(Self.peakMemory(of: controller))
                #expect(peak - before < mebibytes * 3 / 2, "the controller peaked at \(peak) MiB, \(before) before")
            }
        }

        /// A process's peak resident memory in MiB (`VmHWM`).
        static func peakMemory(of pid: pid_t) -> Int? {
            let status = (try? FileDescriptor.readAll("/proc/\(pid)/status")).map {
                String(decoding: $0, as: UTF8.self)
            }
            let line = status?.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            return line?.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 >> 10 }
        }

        /// Python may take longer to start than the controller waits for a heartbeat (a slow file
        /// system, a loaded host: under valgrind it took over 5 s): the engine beats meanwhile, and
        /// joins instead of being lost.
        @Test func anEngineWhosePythonStartsSlowlyIsNotLost() throws {
            try Self.withClusterFacingAHost { host, cluster in
                // sitecustomize runs while Python initializes: 8 s, over the 5 s without a heartbeat
                // after which the controller gives an engine up.
                let directory = try TemporaryDirectory(prefix: "pxsh-it-slow")
                _ = try Self.privateFile("import time\ntime.sleep(8)\n", in: directory, named: "sitecustomize.py")
                let engine = try host.startPxsh(
                    ["engine", "--connection-file", "-"],
                    token: cluster.token,
                    input: try Self.connectionFile(of: cluster),
                    environment: ["PYTHONPATH": directory.path]
                )
                let id = try Self.waitForEngine(from: host.address, in: cluster, engine: engine)
                let run = try cluster.script("%px -t \(id) print('up')")
                #expect(run.lines.contains("[stdout:\(id)] up"), "\(run.transcript)\n\(engine.transcript)")
                #expect(!cluster.controllerLog.contains("no heartbeat"), "\(cluster.controllerLog)")
                #expect(!engine.hasExited, "\(engine.transcript)")
            }
        }

        /// A controller listening on every address (0.0.0.0) cannot tell engines to connect there: its
        /// connection file names the address of its default route's interface, which they reach.
        @Test func aControllerOnEveryAddressWritesOneThatEnginesReach() throws {
            // The controller runs on the other "host", whose uplink is the link; the engine here.
            let host = try NetworkHost()
            defer { host.remove() }
            try host.routeByDefaultThroughTheLink()
            let cluster = try NamedCluster.start(engines: 1, prefix: "tcp", extra: ["--ip", "0.0.0.0"], inside: host)
            defer { cluster.expectCleanStop() }
            try Self.expectAnEngineJoins(cluster, atAddress: host.address, from: host.localAddress) { file in
                try ChildProcess(
                    executable: Pxsh.executable,
                    arguments: ["engine", "--connection-file", "-"],
                    environment: Pxsh.environment(token: cluster.token),
                    input: file
                )
            }
        }

        /// Expects `cluster`'s connection file to name `address`, and an engine that `start` starts
        /// with that file to join from `peer` and run code.
        static func expectAnEngineJoins(
            _ cluster: NamedCluster,
            atAddress address: String,
            from peer: String,
            startedBy start: (_ file: String) throws -> ChildProcess
        ) throws {
            let file = try connectionFile(of: cluster)
            #expect(file.contains("\"address\": \"\(address)\""), "\(file)")
            let engine = try start(file)
            let id = try waitForEngine(from: peer, in: cluster, engine: engine)
            let run = try cluster.script("%px -t \(id) print('joined')")
            #expect(run.lines.contains("[stdout:\(id)] joined"), "\(run.transcript)\n\(engine.transcript)")
        }

        /// `--location ADDR` names the address engines connect to when the listener's is not it.
        @Test func locationNamesTheAddressInTheConnectionFile() throws {
            let host = try NetworkHost()
            defer { host.remove() }
            let cluster = try NamedCluster.start(
                engines: 1,
                prefix: "tcp",
                extra: ["--ip", "0.0.0.0", "--location", host.localAddress]
            )
            defer { cluster.expectCleanStop() }
            try Self.expectAnEngineJoins(cluster, atAddress: host.localAddress, from: host.address) { file in
                try host.startPxsh(["engine", "--connection-file", "-"], token: cluster.token, input: file)
            }
        }

        @Test func aWrongKeyIsRefusedLoggedAndChangesNothing() throws {
            let host = try NetworkHost()
            defer { host.remove() }
            let cluster = try Self.startCluster(facing: host)
            defer { cluster.stop() }
            let good = try ConnectionFile(json: Array(try Self.connectionFile(of: cluster).utf8))
            var bad = good
            bad.key = ClusterKey.random()
            let directory = try TemporaryDirectory()
            let path = try Self.privateFile(bad.json, in: directory, named: "bad.json")
            let engine = try host.startPxsh(["engine", "--connection-file", path], token: cluster.token)
            #expect(engine.waitForExit(timeout: 60) == .exited(1), "\(engine.transcript)")
            let reason = engine.stderr.split(separator: "\n")
            #expect(reason.count == 1 && reason[0].contains("wrong key"), "\(engine.transcript)")
            _ = eventually(timeout: 10) {
                cluster.controllerLog.contains("refused a TCP connection from \(host.address)")
            }
            #expect(
                cluster.controllerLog.contains("refused a TCP connection from \(host.address)"),
                "\(cluster.controllerLog)"
            )
            let status = try Pxsh.run(["cluster", "status", "--name", cluster.name])
            #expect(!status.stdout.contains(host.address), "\(status.transcript)")

            // Nothing listens at a wrong port: one line, status 1.
            var closed = good
            closed.port = good.port == 65535 ? 65534 : good.port + 1
            let nowhere = try host.startPxsh(
                ["engine", "--connection-file", "-"],
                token: cluster.token,
                input: closed.json
            )
            #expect(nowhere.waitForExit(timeout: 60) == .exited(1), "\(nowhere.transcript)")
            #expect(nowhere.stderr.contains("cannot reach the controller at"), "\(nowhere.transcript)")
        }

        // MARK: - Hostile bytes

        /// Bytes no engine would send, on TCP connections of their own, before and after the key
        /// exchange: each closes its connection (logged), and the cluster goes on.
        @Test func garbageOversizedTruncatedTamperedAndReplayedFramesCloseOnlyTheirConnection() throws {
            let cluster = try NamedCluster.start(engines: 1, prefix: "tcp", extra: ["--ip", "127.0.0.1"])
            defer { cluster.stop() }
            let file = try ConnectionFile(json: Array(try Self.connectionFile(of: cluster).utf8))
            func connect() throws -> RawConnection { try RawConnection(address: "127.0.0.1", port: file.port) }

            // Before authentication.
            let garbage = try connect()
            garbage.send((0..<64).map { _ in UInt8.random(in: 0...255) } + Array(repeating: 0xff, count: 4))
            #expect(garbage.isClosedByPeer(within: 15), "garbage before the key exchange")
            let oversized = try connect()
            oversized.send(WireBytes.littleEndian(UInt32(1 << 20)))
            #expect(oversized.isClosedByPeer(within: 15), "a 1 MiB frame before the key exchange")
            let notAnEngine = try connect()
            notAnEngine.send(WireBytes.clientHello())
            #expect(notAnEngine.isClosedByPeer(within: 15), "a client's hello over TCP")
            let truncated = try connect()
            truncated.send(
                Array(FrameEncoder.encode(KeyExchange.Initiator(key: file.key, cluster: file.cluster).hello).prefix(20))
            )
            #expect(truncated.isClosedByPeer(within: 20), "half a hello, then silence")
            let forger = try connect()
            var impostor = KeyExchange.Initiator(key: ClusterKey.random(), cluster: file.cluster)
            forger.send(FrameEncoder.encode(impostor.hello))
            var decoder = FrameDecoder()
            // The challenge: length, header, then a nonce and a proof of 32 bytes each.
            decoder.feed(forger.receive(count: 4 + 20 + 2 * (4 + 32), timeout: 15))
            let challenge = try #require(try decoder.nextFrame())
            #expect(throws: KeyExchangeError.wrongKey) { try impostor.respond(to: challenge) }
            forger.send(FrameEncoder.encode(Frame(kind: .authProof, segments: [Array(repeating: 7, count: 32)])))
            #expect(forger.isClosedByPeer(within: 15), "a forged proof")

            // After authentication (the test holds the key, as an engine does).
            func authenticated() throws -> (RawConnection, FrameSealer) {
                let connection = try connect()
                var exchange = KeyExchange.Initiator(key: file.key, cluster: file.cluster)
                connection.send(FrameEncoder.encode(exchange.hello))
                var reader = FrameDecoder()
                var frames: [Frame] = []
                let deadline = Deadline(seconds: 15)
                while frames.isEmpty && !deadline.hasPassed {
                    reader.feed(connection.receive(count: 1, timeout: 1))
                    while let frame = try reader.nextFrame() { frames.append(frame) }
                }
                connection.send(FrameEncoder.encode(try exchange.respond(to: try #require(frames.first))))
                frames = []
                while frames.isEmpty && !deadline.hasPassed {
                    reader.feed(connection.receive(count: 1, timeout: 1))
                    while let frame = try reader.nextFrame() { frames.append(frame) }
                }
                let keys = try exchange.finish(try #require(frames.first))
                return (connection, keys.makeSealer())
            }
            let hello = Hello(role: .engine, fields: ["remote", "", "", "1", "test"]).frame

            var (tampering, sealer) = try authenticated()
            var tampered = sealer.seal(hello)
            tampered[30] ^= 1
            tampering.send(tampered)
            #expect(tampering.isClosedByPeer(within: 15), "a tampered frame")

            var replaying: RawConnection
            (replaying, sealer) = try authenticated()
            let beat = sealer.seal(Frame(kind: .heartbeat))
            replaying.send(beat + beat)
            #expect(replaying.isClosedByPeer(within: 15), "a replayed frame")

            (replaying, sealer) = try authenticated()
            replaying.send(FrameEncoder.encode(hello))
            #expect(replaying.isClosedByPeer(within: 15), "a plain frame after the key exchange")

            (replaying, sealer) = try authenticated()
            replaying.send(WireBytes.littleEndian(UInt32.max))
            #expect(replaying.isClosedByPeer(within: 15), "a 4 GiB frame after the key exchange")

            (replaying, sealer) = try authenticated()
            replaying.send(Array(sealer.seal(hello).dropLast(10)))
            #expect(replaying.isClosedByPeer(within: 20), "a truncated frame, then silence")
            (tampering, sealer) = try authenticated()
            _ = tampering

            let log = cluster.controllerLog
            for expected in ["bad MAC", "replayed or reordered", "wrong key", "exceeds the limit", "no heartbeat"] {
                #expect(log.contains(expected), "the controller's log says \(expected):\n\(log)")
            }
            // The cluster is as it was.
            let run = try cluster.script("%px print('alive')\n%engines")
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0] alive"), "\(run.transcript)")
            #expect(!run.stdout.contains("127.0.0.1"), "no engine joined:\n\(run.transcript)")
        }

        // MARK: - Losing engines

        /// A client waiting on a long task on the remote engine, and a file that says when it runs.
        static func startLongTask(
            on id: Int,
            cluster: NamedCluster,
            directory: TemporaryDirectory
        ) throws -> ChildProcess {
            let marker = directory.path + "/running"
            let (client, _) = try Pxsh.start([
                "--cluster", cluster.name, "-c",
                "%px -t \(id) import time; open('\(marker)', 'w').close(); time.sleep(300)",
            ])
            _ = eventually(timeout: 60) { access(marker, F_OK) == 0 }
            try #require(access(marker, F_OK) == 0, "the task did not start:\n\(client.transcript)")
            return client
        }

        enum Fault: String, CaseIterable {
            case sigkill, cutLink, sigstop
        }

        /// A lost remote engine is reported once and leaves the cluster: it no longer counts in `size`
        /// or the ranks, `%engines` no longer lists it, and the engines that stay get their new rank and
        /// size, with one line naming those whose rank changed (as after `%remove`).
        @Test(arguments: Fault.allCases)
        func aLostRemoteEngineIsReportedWithItsHostAndItsTaskFailsAndItLeavesTheCluster(_ fault: Fault) throws {
            // Two hosts: the link of the one whose engine is lost may be cut.
            let hosts = [try NetworkHost(), try NetworkHost()]
            defer { for host in hosts { host.remove() } }
            let cluster = try NamedCluster.start(engines: 1, prefix: "tcp", extra: ["--ip", "0.0.0.0"])
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            let engines = try Self.startEngines(on: hosts, in: cluster)
            let (engine, id) = engines[0]
            let (survivor, survivorID) = engines[1]
            #expect(id < survivorID, "the lost engine comes first, so that the other one's rank changes")
            let directory = try TemporaryDirectory()
            // Another client, busy on the local engine, sees what happens as it happens.
            let (watching, release) = (directory.path + "/watching", directory.path + "/release")
            let (observer, _) = try Pxsh.start([
                "--cluster", cluster.name, "-c",
                "%px -t 0 import os, time; open('\(watching)', 'w').close(); "
                    + "_ = [time.sleep(0.05) for _ in iter(lambda: os.path.exists('\(release)'), True)]",
            ])
            _ = eventually(timeout: 60) { access(watching, F_OK) == 0 }
            try #require(access(watching, F_OK) == 0, "the observer did not start:\n\(observer.transcript)")
            let client = try Self.startLongTask(on: id, cluster: cluster, directory: directory)
            switch fault {
            case .sigkill: engine.signal(SIGKILL)
            case .cutLink: try hosts[0].cutLink()
            case .sigstop: engine.signal(SIGSTOP)
            }
            let lost = "engine \(id) (rank \(id), host \(hosts[0].address)) lost: "
            #expect(client.waitForExit(timeout: 60) == .exited(1), "\(client.transcript)")
            #expect(client.stdout.contains(lost), "\(client.transcript)")
            #expect(client.stdout.contains("EngineError"), "\(client.transcript)")
            if fault != .sigkill { #expect(client.stdout.contains(lost + "no heartbeat for"), "\(client.transcript)") }
            // The one-line notice of the rank that changed, after the loss.
            let notice = "ranks changed: engine \(survivorID) is now rank \(survivorID - 1) (was \(survivorID))"
            _ = try? observer.waitForOutput(timeout: 30) { $0.contains(notice) }
            close(open(release, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600))
            #expect(observer.waitForExit(timeout: 30) == .exited(0), "\(observer.transcript)")
            let observed = observer.stdout
            #expect(observed.components(separatedBy: lost).count == 2, "reported once:\n\(observer.transcript)")
            #expect(
                observed.range(of: lost).map { observed[$0.upperBound...].contains(notice) } == true,
                "\(observer.transcript)\n\(cluster.controllerLog)"
            )
            switch fault {
            case .sigkill:
                #expect(engine.waitForExit(timeout: 10) == .signaled(SIGKILL))
            case .cutLink:
                // Its controller fell silent: it leaves by itself, within 15 s of the cut.
                #expect(engine.waitForExit(timeout: 30) == .exited(1), "\(engine.transcript)")
                #expect(engine.stderr.contains("no heartbeat from the controller"), "\(engine.transcript)")
            case .sigstop:
                // Woken, it finds its connection closed by the controller, and leaves.
                engine.signal(SIGCONT)
                #expect(engine.waitForExit(timeout: 30) != .timedOut, "\(engine.transcript)")
            }
            // The engine table no longer lists it; the others are ranks 0..size-1 and know it.
            let run = try cluster.script("%engines\n%px print('rank', rank, 'size', size)")
            expectStatus(run, .exited(0))
            let rows = run.lines.map { $0.split(separator: " ").map(String.init) }
            #expect(!rows.contains { $0.first == "\(id)" }, "\(run.transcript)")
            #expect(
                rows.contains { $0.count >= 7 && $0.first == "0" && $0[1] == "0" && $0.last == "local" },
                "\(run.transcript)"
            )
            #expect(
                rows.contains {
                    $0.count >= 7 && $0.first == "\(survivorID)" && $0[1] == "1" && $0.last == hosts[1].address
                },
                "\(run.transcript)"
            )
            #expect(run.lines.contains("[stdout:0] rank 0 size 2"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:\(survivorID)] rank 1 size 2"), "\(run.transcript)")
            #expect(!survivor.hasExited, "\(survivor.transcript)")
        }

        @Test func remoteEnginesLeaveWhenTheControllerIsKilledAndTheClientSaysSo() throws {
            let host = try NetworkHost()
            defer { host.remove() }
            let cluster = try Self.startCluster(facing: host)
            defer { cluster.stop() }
            let engine = try host.startPxsh(
                ["engine", "--connection-file", "-"],
                token: cluster.token,
                input: try Self.connectionFile(of: cluster)
            )
            let id = try Self.waitForEngine(from: host.address, in: cluster, engine: engine)
            let directory = try TemporaryDirectory()
            let client = try Self.startLongTask(on: id, cluster: cluster, directory: directory)
            let description = try #require(TemporaryDirectory.contents(ofFile: cluster.directory + "/cluster.json"))
            let pidField = try #require(description.firstRange(of: "\"pid\": "))
            let controller = try #require(pid_t(description[pidField.upperBound...].prefix { $0.isNumber }))
            kill(controller, SIGKILL)
            #expect(engine.waitForExit(timeout: 30) != .timedOut, "\(engine.transcript)")
            #expect(engine.stderr.contains("the controller closed the connection"), "\(engine.transcript)")
            #expect(client.waitForExit(timeout: 30) == .exited(1), "\(client.transcript)")
            #expect(client.output.contains("controller"), "\(client.transcript)")
        }

        /// A job script's `pxsh engine … &` starts the engine with SIGINT ignored (a shell without job
        /// control does so for background jobs); `%interrupt` still reaches the code it runs.
        @Test func anEngineStartedWithSIGINTIgnoredIsStillInterrupted() throws {
            try Self.withClusterFacingAHost { host, cluster in
                var file = try ConnectionFile(json: Array(try Self.connectionFile(of: cluster).utf8))
                file.address = host.localAddress
                let engine = try ChildProcess(
                    executable: NetworkHost.ip,
                    arguments: [
                        "netns", "exec", host.namespace, "sh", "-c",
                        "trap '' INT; exec \"$0\" engine --connection-file -", Pxsh.executable,
                    ],
                    environment: Pxsh.environment(token: cluster.token),
                    input: file.json
                )
                let id = try Self.waitForEngine(from: host.address, in: cluster, engine: engine)
                let flags = try TemporaryDirectory()
                let started = pythonString(flags.path + "/started")
                let run = try cluster.script(
                    """
                    %px -t \(id) --noblock -o sleeper import time; open(\(started), "w").close(); time.sleep(60)
                    import os, time
                    deadline = time.monotonic() + 60
                    while not os.path.exists(\(started)) and time.monotonic() < deadline: time.sleep(0.01)

                    %interrupt
                    %wait sleeper
                    """
                )
                #expect(run.output.contains("[\(id):execute] KeyboardInterrupt"), "\(run.transcript)")
            }
        }

        /// `cluster stop` and `%remove` ask a remote engine to exit as Python exits, as they ask a
        /// local one: a file left open is flushed, atexit handlers run, and the engine exits with
        /// status 0. So does SIGTERM at its host (`kill`, `scancel`, a time limit), and SIGINT while it
        /// is idle (Ctrl-C at the terminal of an engine started by hand).
        @Test(arguments: ["cluster stop", "%remove", "SIGTERM", "SIGINT"])
        func aRemoteEngineEndsAsPythonExits(endedBy how: String) throws {
            let host = try NetworkHost()
            defer { host.remove() }
            let cluster = try Self.startCluster(facing: host)
            var isStopped = false
            defer { if !isStopped { cluster.stop() } }
            let engine = try host.startPxsh(
                ["engine", "--connection-file", "-"],
                token: cluster.token,
                input: try Self.connectionFile(of: cluster)
            )
            let id = try Self.waitForEngine(from: host.address, in: cluster, engine: engine)
            let directory = try TemporaryDirectory(prefix: "pxsh-it-rexit")
            let path = directory.path
            let run = try cluster.script(
                """
                %px -t \(id) f = open("\(path)/buf.txt", "w"); f.write("important data\\n")
                %px -t \(id) import atexit; atexit.register(lambda: open("\(path)/atexit.txt", "w").write("atexit ran"))
                """ + (how == "%remove" ? "\n%remove \(id)" : "")
            )
            expectStatus(run, .exited(0))
            if how == "cluster stop" {
                cluster.expectCleanStop()
                isStopped = true
            }
            if how.hasPrefix("SIG") { kill(engine.pid, how == "SIGTERM" ? SIGTERM : SIGINT) }
            #expect(engine.waitForExit(timeout: 20) == .exited(0), "\(engine.transcript)")
            #expect(directory.contents(of: "buf.txt") == "important data\n", "\(engine.transcript)")
            #expect(directory.contents(of: "atexit.txt") == "atexit ran", "\(engine.transcript)")
            guard how != "cluster stop" else { return }
            if how.hasPrefix("SIG") {
                #expect(cluster.controllerLog.contains("engine \(id): it left on \(how)"), "\(cluster.controllerLog)")
            }
            // The controller forgets it once its connection has closed.
            var states: [Int: String] = [:]
            let isGone = try eventually(timeout: 30) {
                states = try engineStates(of: cluster)
                return states[id] == nil
            }
            #expect(isGone, "\(states)")
        }

        /// SIGTERM at its host ends a busy remote engine as `cluster stop` does, and quickly: its task
        /// is interrupted first, atexit handlers run, and the client is told why it left.
        @Test func sigtermEndsABusyRemoteEngineQuicklyAndTheClientIsTold() throws {
            try Self.withClusterFacingAHost { host, cluster in
                let (engine, id) = try Self.startEngines(on: [host], in: cluster)[0]
                let directory = try TemporaryDirectory(prefix: "pxsh-it-term")
                let started = pythonString(directory.path + "/started")
                let atexit = pythonString(directory.path + "/atexit.txt")
                let (client, _) = try Pxsh.start([
                    "--cluster", cluster.name, "-c",
                    "%px -t \(id) import atexit, time; atexit.register(lambda: open(\(atexit), 'w').write('atexit ran'));"
                        + " open(\(started), 'w').close(); time.sleep(60)"
                        // The event comes after the reply: the client waits for one more answer.
                        + "\n%px -t \(id) print('after')",
                ])
                try #require(
                    eventually(timeout: 60) { directory.contents(of: "started") != nil },
                    "\(client.transcript)"
                )
                let signalled = Clock.monotonicNanoseconds
                kill(engine.pid, SIGTERM)
                #expect(engine.waitForExit(timeout: 20) == .exited(0), "\(engine.transcript)")
                let seconds = Double(Clock.monotonicNanoseconds - signalled) / 1e9
                #expect(seconds < 5, "it took \(seconds) s to leave")
                #expect(directory.contents(of: "atexit.txt") == "atexit ran", "\(engine.transcript)")
                client.closeInput()
                _ = client.waitForExit(timeout: 60)
                #expect(client.output.contains("[\(id):execute] KeyboardInterrupt"), "\(client.transcript)")
                #expect(
                    client.output.contains("engine \(id) (rank \(id), host \(host.address)) lost: it left on SIGTERM"),
                    "\(client.transcript)"
                )
            }
        }

        /// A remote engine that crashes shows what it printed last and faulthandler's report, and the
        /// client is told the signal, as for a local engine; it still dies of that signal.
        @Test(arguments: [("os.abort()", SIGABRT), ("ctypes.string_at(0)", SIGSEGV)])
        func aRemoteEngineThatCrashesShowsItsLastWordsAndWhy(crash: String, signal: Int32) throws {
            try Self.withClusterFacingAHost { host, cluster in
                let (engine, id) = try Self.startEngines(on: [host], in: cluster)[0]
                let run = try cluster.script(
                    "%px -t \(id) import os, ctypes; print('last words', flush=True); \(crash)"
                )
                let cause = ProcessSpawner.Termination.signaled(signal).description
                #expect(run.lines.contains("[stdout:\(id)] last words"), "\(run.transcript)")
                #expect(run.output.contains("Fatal Python error: "), "\(run.transcript)")
                #expect(run.output.contains("File \"<In [1]>\", line 1"), "\(run.transcript)")
                #expect(
                    run.output.contains("engine \(id) (rank \(id), host \(host.address)) lost: it died: \(cause)"),
                    "\(run.transcript)"
                )
                #expect(engine.waitForExit(timeout: 20) == .signaled(signal), "\(engine.transcript)")
            }
        }

        @Test func clusterStopLeavesNoPxshInAnyNamespace() throws {
            let hosts = [try NetworkHost(), try NetworkHost()]
            defer { for host in hosts { host.remove() } }
            // Listening on every address reaches both namespaces.
            let cluster = try NamedCluster.start(engines: 1, prefix: "tcp", extra: ["--ip", "0.0.0.0"])
            let engines = try Self.startEngines(on: hosts, in: cluster).map(\.process)
            let (run, leftovers) = cluster.stop()
            #expect(run?.status == .exited(0), "\(run?.transcript ?? "")")
            #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            for engine in engines {
                #expect(engine.waitForExit(timeout: 20) == .exited(0), "\(engine.transcript)")
            }
        }
    }
}
