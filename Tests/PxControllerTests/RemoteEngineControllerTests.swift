import PxPlatform
import PxSecurity
import PxTransport
import PxWire
import Testing

@testable import PxController

#if canImport(Glibc)
import Glibc
#endif

/// The controller's handling of remote engines and their clients, over in-memory connections:
/// no processes, no sockets. Time is moved by setting when a peer was last heard from.
@Suite struct RemoteEngineControllerTests {
    let controller = Controller(
        options: ControllerOptions(
            directory: "/nonexistent/pxsh-unit",
            engineCount: 0,
            pythonExecutable: "python3",
            libraryPath: "",
            name: "unit"
        )
    )

    /// A client that has said hello and been welcomed.
    func connectClient() throws -> (InMemoryConnection, Peer) {
        let connection = InMemoryConnection()
        let peer = controller.adopt(connection, pid: 1)
        connection.deliver(Hello(role: .client, fields: ["1"]).frame)
        controller.receive(from: peer)
        #expect(connection.takeSent().map(\.kind) == [.welcome])
        return (connection, peer)
    }

    /// A TCP peer that goes through the key exchange with `key` (the cluster's by default).
    func exchangeKeys(host: String, key: ClusterKey? = nil) throws -> (InMemoryConnection, Peer, [Frame]) {
        let connection = InMemoryConnection(maximumFrameSize: KeyExchange.preAuthenticationFrameLimit)
        let peer = controller.adopt(connection, pid: 0, host: host)
        var exchange = KeyExchange.Initiator(key: key ?? controller.clusterKey, cluster: controller.clusterID)
        connection.deliver(exchange.hello)
        controller.receive(from: peer)
        let challenge = try #require(connection.takeSent().first)
        #expect(challenge.kind == .authChallenge)
        let proof: Frame
        if key == nil {
            proof = try exchange.respond(to: challenge)
        } else {
            // Another key cannot check the controller's proof; its own proof goes anyway.
            proof = Frame(kind: .authProof, segments: [Bytes(repeating: 1, count: 32)])
        }
        connection.deliver(proof)
        controller.receive(from: peer)
        return (connection, peer, connection.takeSent())
    }

    /// An authenticated engine from `host` that has registered and is ready; its id.
    /// - Parameter fromLauncher: the rank is one mpiexec or srun gave it (`MPI.COMM_WORLD.rank`).
    func joinEngine(
        host: String,
        rank: Int? = nil,
        size: Int? = nil,
        fromLauncher: Bool = false
    ) throws -> (InMemoryConnection, Peer, Int32) {
        let (connection, peer, verdict) = try exchangeKeys(host: host)
        #expect(verdict.map(\.kind) == [.authAccepted])
        #expect(connection.isSealed)
        connection.deliver(
            Hello(
                role: .engine,
                fields: [
                    "remote", rank.map(String.init) ?? "", size.map(String.init) ?? "", "4242", "h",
                    fromLauncher ? "launcher" : "",
                ]
            ).frame
        )
        controller.receive(from: peer)
        let welcome = try #require(connection.takeSent().first)
        #expect(welcome.kind == .welcome)
        let id = try #require(Int32(welcome.segments[0].text))
        #expect(controller.engines[id]?.life.state == .registering)
        connection.deliver(Frame(kind: .ready, engine: id))
        controller.receive(from: peer)
        #expect(controller.engines[id]?.life.state == .idle)
        return (connection, peer, id)
    }

    func submit(_ code: String, to engine: Int32, from client: InMemoryConnection, peer: Peer) {
        let submission = Submission(op: .execute, targets: [engine], shared: [Bytes(text: code)])
        client.deliver(submission.frame(requestID: 1))
        controller.receive(from: peer)
    }

    // MARK: - Joining and working

    @Test func anAuthenticatedEngineRegistersTakesTasksAndIsShownWithItsHost() throws {
        let (client, clientPeer) = try connectClient()
        let (engine, enginePeer, id) = try joinEngine(host: "10.1.0.2", rank: 5)
        let started = client.takeSent().compactMap(ClusterEvent.init)
        guard case .engineStarted(let row) = started.first else {
            Issue.record("no engineStarted event: \(started)")
            return
        }
        #expect(row.host == "10.1.0.2" && row.rank == 5 && row.pid == 4242)

        submit("pass", to: id, from: client, peer: clientPeer)
        let task = try #require(engine.takeSent().first { $0.kind == .task })
        #expect(controller.engines[id]?.life.state == .busy)
        engine.deliver(
            Frame(
                kind: .stream,
                op: OutputStream.stdout.rawValue,
                engine: id,
                id: task.id,
                segments: [Bytes(text: "hi\n")]
            ),
            Frame(
                kind: .reply,
                op: task.op,
                engine: id,
                id: task.id,
                segments: [TaskTiming(started: 1, completed: 2).segment]
            )
        )
        controller.receive(from: enginePeer)
        #expect(client.takeSent().map(\.kind) == [.accepted, .stream, .reply])
        #expect(controller.engines[id]?.life.state == .idle)
        #expect(controller.engineRows().first { $0.id == id }?.host == "10.1.0.2")
    }

    // MARK: - A request's answer in one frame

    /// Submits `code` to `engines`, asking for the answer in one frame; the tasks the engines got.
    func submitForOneAnswer(
        _ code: String,
        to engines: [(InMemoryConnection, Int32)],
        from client: InMemoryConnection,
        peer: Peer
    ) throws -> [Frame] {
        let submission = Submission(
            op: .execute,
            targets: engines.map(\.1),
            isAnsweredInOneFrame: true,
            shared: [Bytes(text: code)]
        )
        client.deliver(submission.frame(requestID: 5))
        controller.receive(from: peer)
        return try engines.map { engine, _ in try #require(engine.takeSent().first { $0.kind == .task }) }
    }

    func reply(to task: Frame, from engine: Int32, failed: Bool = false, size: Int = 0) -> Frame {
        Frame(
            kind: .reply,
            op: task.op,
            flags: failed ? .failed : [],
            engine: engine,
            id: task.id,
            segments: [
                TaskTiming(started: 1, completed: 2).segment, Bytes(text: failed ? "error" : "ok"),
                Bytes(repeating: 7, count: size),
            ]
        )
    }

    @Test func aDirectRequestThatAsksGetsItsWholeAnswerInOneFrameOnceTheLastReplyIsIn() throws {
        let (client, clientPeer) = try connectClient()
        let (first, firstPeer, a) = try joinEngine(host: "10.1.0.5")
        let (second, secondPeer, b) = try joinEngine(host: "10.1.0.6")
        _ = client.takeSent()
        let tasks = try submitForOneAnswer(
            "print(rank)",
            to: [(first, a), (second, b)],
            from: client,
            peer: clientPeer
        )
        first.deliver(
            Frame(
                kind: .stream,
                op: OutputStream.stdout.rawValue,
                engine: a,
                id: tasks[0].id,
                segments: [Bytes(text: "0\n")]
            ),
            reply(to: tasks[0], from: a)
        )
        controller.receive(from: firstPeer)
        #expect(client.takeSent().isEmpty, "held until the last reply")
        second.deliver(reply(to: tasks[1], from: b))
        controller.receive(from: secondPeer)
        let sent = client.takeSent()
        #expect(sent.map(\.kind) == [.answer])
        let answer = try #require(sent.first.flatMap(Answer.init))
        #expect(answer.requestID == 5 && sent[0].flags == [])
        #expect(answer.frames.map(\.kind) == [.accepted, .stream, .reply, .reply])
        #expect(Accepted(answer.frames[0]) == Accepted(first: tasks[0].id, count: 2))
    }

    @Test func aLoadBalancedCallThatAsksGetsItsAnswerInOneFrame() throws {
        let (client, clientPeer) = try connectClient()
        let (engine, enginePeer, id) = try joinEngine(host: "10.1.0.8")
        _ = client.takeSent()
        let call = Submission(op: .call, isBalanced: true, isAnsweredInOneFrame: true, perTask: [[Bytes(text: "f")]])
        client.deliver(call.frame(requestID: 6))
        controller.receive(from: clientPeer)
        let task = try #require(engine.takeSent().first { $0.kind == .task })
        #expect(client.takeSent().isEmpty, "held until the reply")
        engine.deliver(reply(to: task, from: id))
        controller.receive(from: enginePeer)
        let sent = client.takeSent()
        #expect(sent.map(\.kind) == [.answer])
        let answer = try #require(sent.first.flatMap(Answer.init))
        #expect(answer.requestID == 6 && answer.frames.map(\.kind) == [.accepted, .reply])
        #expect(Accepted(answer.frames[0]) == Accepted(first: task.id, count: 1))

        // A call still running when its hold expires: what is held goes as it is, then the reply alone
        // (an answer frame would not be its whole answer).
        client.deliver(call.frame(requestID: 7))
        controller.receive(from: clientPeer)
        let longer = try #require(engine.takeSent().first { $0.kind == .task })
        engine.deliver(
            Frame(
                kind: .stream,
                op: OutputStream.stdout.rawValue,
                engine: id,
                id: longer.id,
                segments: [Bytes(text: "working\n")]
            )
        )
        controller.receive(from: enginePeer)
        let held = try #require(controller.heldAnswers[longer.id])
        controller.heldAnswers[longer.id] = HeldAnswer(
            owner: held.owner,
            frames: held.frames,
            isOneFrame: held.isOneFrame,
            awaitedReplies: held.awaitedReplies,
            since: 0
        )
        controller.releaseExpiredAnswers()
        #expect(client.takeSent().map(\.kind) == [.accepted, .stream])
        engine.deliver(reply(to: longer, from: id))
        controller.receive(from: enginePeer)
        #expect(client.takeSent().map(\.kind) == [.reply])
    }

    @Test func aFailedReplyFlagsTheAnswerAndALargeAnswerGoesAsItsFrames() throws {
        let (client, clientPeer) = try connectClient()
        let (engine, enginePeer, id) = try joinEngine(host: "10.1.0.7")
        _ = client.takeSent()
        var task = try submitForOneAnswer("1/0", to: [(engine, id)], from: client, peer: clientPeer)[0]
        engine.deliver(reply(to: task, from: id, failed: true))
        controller.receive(from: enginePeer)
        let failed = client.takeSent()
        #expect(failed.map(\.kind) == [.answer] && failed.first?.flags == .failed)

        // Nesting copies the frames once more: past 64 KiB they go as they are.
        task = try submitForOneAnswer("b'x' * 100_000", to: [(engine, id)], from: client, peer: clientPeer)[0]
        engine.deliver(reply(to: task, from: id, size: 100_000))
        controller.receive(from: enginePeer)
        #expect(client.takeSent().map(\.kind) == [.accepted, .reply])
    }

    @Test func heartbeatsGoOutAndAnEngineSilentFor5SecondsIsLostWithItsTask() throws {
        let (client, clientPeer) = try connectClient()
        let (engine, enginePeer, id) = try joinEngine(host: "10.1.0.3")
        submit("import time; time.sleep(100)", to: id, from: client, peer: clientPeer)
        _ = client.takeSent()
        controller.checkHeartbeats()
        #expect(engine.takeSent().contains { $0.kind == .heartbeat })

        enginePeer.lastHeard = Clock.monotonicNanoseconds - 4_000_000_000
        controller.checkHeartbeats()
        #expect(controller.engines[id]?.life.takesTasks == true, "4 s of silence is not yet loss")

        enginePeer.lastHeard = Clock.monotonicNanoseconds - 6_000_000_000
        controller.checkHeartbeats()
        #expect(enginePeer.isClosed)
        #expect(controller.engines[id] == nil, "a lost remote engine leaves the cluster")
        let frames = client.takeSent()
        let reply = try #require(frames.first { $0.kind == .reply })
        #expect(reply.flags.contains(.failed) && reply.segments[1] == ReplyStatus.engineError.segment)
        #expect(reply.segments[2].text.contains("engine \(id) (rank 0, host 10.1.0.3) lost: no heartbeat for 6 s"))
        let events = frames.compactMap(ClusterEvent.init)
        #expect(
            events.contains(
                .engineDied(engine: id, rank: 0, cause: "no heartbeat for 6 s", isRestarting: false, host: "10.1.0.3")
            ),
            "\(events)"
        )
        // New work for it fails at once rather than waiting for an engine that will not come back.
        submit("pass", to: id, from: client, peer: clientPeer)
        #expect(client.takeSent().contains { $0.kind == .reply && $0.flags.contains(.failed) })
    }

    @Test func aRemoteEngineThatClosesItsConnectionIsLostAtOnce() throws {
        let (client, _) = try connectClient()
        let (engine, enginePeer, id) = try joinEngine(host: "10.1.0.4")
        _ = client.takeSent()
        engine.close()
        controller.receive(from: enginePeer)
        #expect(controller.engines[id] == nil, "a lost remote engine leaves the cluster")
        #expect(
            client.takeSent().compactMap(ClusterEvent.init).contains {
                if case .engineDied(id, _, "its connection closed", false, "10.1.0.4") = $0 { return true }
                return false
            }
        )
    }

    /// The tasks that set `rank` and `size` in each engine, by engine: "rank, size = R, S".
    func rankUpdates(_ engines: [(connection: InMemoryConnection, id: Int32)]) -> [Int32: String] {
        var updates: [Int32: String] = [:]
        for (connection, id) in engines {
            for frame in connection.takeSent() where frame.kind == .task && frame.op == EngineOp.execute.rawValue {
                updates[id] = frame.segments.first?.text
            }
        }
        return updates
    }

    /// Engines that join at once (`pxsh engine -n 3`) all register before any is ready for tasks:
    /// each still learns the size they make together.
    @Test func enginesThatJoinTogetherEachLearnTheSizeOnceTheyTakeTasks() throws {
        var joined: [(connection: InMemoryConnection, peer: Peer, id: Int32)] = []
        // What each engine was told last: its welcome's rank and size, then any task that sets them.
        var known: [Int32: String] = [:]
        for host in ["10.1.0.21", "10.1.0.22", "10.1.0.23"] {
            let (connection, peer, _) = try exchangeKeys(host: host)
            connection.deliver(Hello(role: .engine, fields: ["remote", "", "", "4242", "h", ""]).frame)
            controller.receive(from: peer)
            let welcome = try #require(connection.takeSent().first)
            let id = try #require(Int32(welcome.segments[0].text))
            known[id] = "rank, size = \(welcome.segments[1].text), \(welcome.segments[2].text)"
            joined.append((connection, peer, id))
            controller.settleRanksIfNeeded()
        }
        for engine in joined {
            engine.connection.deliver(Frame(kind: .ready, engine: engine.id))
            controller.receive(from: engine.peer)
        }
        controller.settleRanksIfNeeded()
        known.merge(rankUpdates(joined.map { ($0.connection, $0.id) })) { $1 }
        #expect(
            known.values.sorted() == ["rank, size = 0, 3", "rank, size = 1, 3", "rank, size = 2, 3"],
            "\(known)"
        )
    }

    @Test func aLostRemoteEngineLeavesAndTheOthersGetTheirRankAndSizeWithOneNotice() throws {
        let (client, _) = try connectClient()
        let (first, firstPeer, firstID) = try joinEngine(host: "10.1.0.11")
        let (second, _, secondID) = try joinEngine(host: "10.1.0.12")
        let (third, _, thirdID) = try joinEngine(host: "10.1.0.13")
        // Each one that joins by itself changes the others' size.
        controller.settleRanksIfNeeded()
        #expect(
            rankUpdates([(first, firstID), (second, secondID), (third, thirdID)])
                == [firstID: "rank, size = 0, 3", secondID: "rank, size = 1, 3", thirdID: "rank, size = 2, 3"]
        )
        _ = client.takeSent()

        first.close()
        controller.receive(from: firstPeer)
        controller.settleRanksIfNeeded()
        #expect(controller.engines[firstID] == nil)
        #expect(controller.engines[thirdID]?.rank == 0 && controller.engines[secondID]?.rank == 1)
        #expect(
            rankUpdates([(second, secondID), (third, thirdID)])
                == [secondID: "rank, size = 1, 2", thirdID: "rank, size = 0, 2"]
        )
        let events = client.takeSent().compactMap(ClusterEvent.init)
        #expect(
            events.filter {
                if case .engineDied = $0 { true } else { false }
            }.count == 1,
            "\(events)"
        )
        #expect(
            events.contains(.notice("ranks changed: engine \(thirdID) is now rank 0 (was 2); size is now 2")),
            "\(events)"
        )
        #expect(controller.engineRows().map(\.id) == [secondID, thirdID])

        // The update runs as a task of the engine, which is busy until it replies; its reply goes nowhere.
        #expect(controller.engines[secondID]?.life.state == .busy)
        let updates = try #require(controller.engines[secondID]?.queue)
        #expect(updates.count == 2, "after the join and after the loss")
        for update in updates {
            second.deliver(
                Frame(
                    kind: .reply,
                    engine: secondID,
                    id: update,
                    segments: [TaskTiming(started: 1, completed: 2).segment]
                )
            )
        }
        controller.receive(from: try #require(controller.engines[secondID]?.connection))
        #expect(controller.engines[secondID]?.life.state == .idle)
        #expect(client.takeSent().isEmpty)
    }

    @Test func ranksThatMPIGaveStayWhenAnotherRankIsLost() throws {
        let (client, _) = try connectClient()
        let (first, firstPeer, firstID) = try joinEngine(host: "10.1.0.14", rank: 0, size: 2, fromLauncher: true)
        let (second, _, secondID) = try joinEngine(host: "10.1.0.15", rank: 1, size: 2, fromLauncher: true)
        // Engines whose launcher gave them their size wait for no update when they join.
        controller.settleRanksIfNeeded()
        #expect(rankUpdates([(first, firstID), (second, secondID)]).isEmpty)
        _ = client.takeSent()

        first.close()
        controller.receive(from: firstPeer)
        controller.settleRanksIfNeeded()
        #expect(controller.engines[secondID]?.rank == 1)
        #expect(rankUpdates([(second, secondID)]) == [secondID: "rank, size = 1, 1"])
        let notices = client.takeSent().compactMap(ClusterEvent.init).compactMap {
            if case .notice(let text) = $0 { text } else { nil }
        }
        #expect(
            notices.count == 1 && notices[0].hasPrefix("size is now 1; engines \(secondID) keep their MPI rank"),
            "\(notices)"
        )
    }

    @Test func restartingARemoteEngineSaysItCannot() throws {
        let (client, clientPeer) = try connectClient()
        let (_, _, id) = try joinEngine(host: "10.1.0.5")
        _ = client.takeSent()
        client.deliver(Frame(kind: .control, op: ControlOp.restart.rawValue, id: 9, segments: [IDList.encode([id])]))
        controller.receive(from: clientPeer)
        let frames = client.takeSent()
        #expect(
            frames.compactMap(ClusterEvent.init).contains {
                if case .notice(let text) = $0 { text.contains("cannot restart engine \(id)") } else { false }
            }
        )
        #expect(frames.contains { $0.kind == .controlReply && $0.id == 9 })
        #expect(controller.engines[id]?.life.state == .idle)
    }

    // MARK: - Refusals

    @Test func aWrongKeyIsRefusedAndChangesNothing() throws {
        let (client, _) = try connectClient()
        let (_, peer, verdict) = try exchangeKeys(host: "10.1.0.6", key: .random())
        #expect(verdict.map(\.kind) == [.refused])
        #expect(verdict.first?.segments.first?.text == "wrong key")
        #expect(peer.isClosed)
        #expect(controller.engines.isEmpty)
        #expect(client.takeSent().isEmpty)
    }

    @Test func beforeTheExchangeOnlyItsSmallFramesAreRead() throws {
        for frame in [
            Hello(role: .client, fields: ["1"]).frame,  // clients use the Unix socket
            Frame(kind: .submit, segments: [Bytes(repeating: 0, count: 16)]),
            Frame(kind: .authHello, segments: [Bytes(repeating: 0, count: 600)]),  // over 512 bytes
        ] {
            let connection = InMemoryConnection(maximumFrameSize: KeyExchange.preAuthenticationFrameLimit)
            let peer = controller.adopt(connection, pid: 0, host: "10.1.0.7")
            connection.deliver(frame)
            controller.receive(from: peer)
            #expect(peer.isClosed, "\(frame.kind)")
        }
        #expect(controller.engines.isEmpty)
    }

    @Test func anAuthenticatedPeerMustBeAnEngine() throws {
        let (connection, peer, _) = try exchangeKeys(host: "10.1.0.8")
        connection.deliver(Hello(role: .client, fields: ["1"]).frame)
        controller.receive(from: peer)
        #expect(peer.isClosed)
        #expect(controller.engines.isEmpty)
    }

    @Test func anAskedForRankIsKeptOnlyWhenFree() throws {
        let (_, _, first) = try joinEngine(host: "10.1.0.9", rank: 3)
        let (_, _, second) = try joinEngine(host: "10.1.0.10", rank: 3)
        #expect(controller.engines[first]?.rank == 3)
        #expect(controller.engines[second]?.rank == 4)
        #expect(first != second)
    }

    /// No id is given twice in a cluster, as in ipyparallel: a rank asked for whose id a lost engine
    /// had gets a new id (the rank itself is free again), and so does an engine that asks for none.
    @Test func anEngineIDIsNeverGivenTwice() throws {
        let (first, firstPeer, id) = try joinEngine(host: "10.1.0.11", rank: 0)
        #expect(id == 0)
        first.close()
        controller.receive(from: firstPeer)
        #expect(controller.engines[id] == nil)
        let (_, _, again) = try joinEngine(host: "10.1.0.12", rank: 0)
        #expect(again == 1)
        #expect(controller.engines[again]?.rank == 0)
        let (_, _, another) = try joinEngine(host: "10.1.0.13")
        #expect(another == 2)
    }
}

/// The controller's own children, where a test can stand in for their processes.
@Suite struct ChildEngineControllerTests {
    let controller = Controller(
        options: ControllerOptions(
            directory: "/nonexistent/pxsh-unit",
            engineCount: 0,
            pythonExecutable: "python3",
            libraryPath: "",
            name: "unit"
        )
    )

    /// A restarted engine's old connection may close after its exit was reaped and its successor
    /// launched; that close must not count against the successor (which was then killed as "lost"
    /// once it took more than a second to start).
    @Test func anOldConnectionClosingLateDoesNotTouchTheSuccessor() throws {
        // A process that stands in for the successor: alive, never connecting.
        let stand = try ProcessSpawner.spawn("/bin/sleep", arguments: ["60"])
        defer {
            kill(stand, SIGKILL)
            _ = ProcessSpawner.wait(stand)
        }
        let old = InMemoryConnection()
        let oldPeer = controller.adopt(old, pid: 12_345)
        oldPeer.role = .engine(0)
        // The successor, launched after the old process was reaped.
        controller.engines[0] = EngineSlot(id: 0, rank: 0, pid: stand, since: 0)
        old.close()
        controller.receive(from: oldPeer)
        #expect(oldPeer.isClosed)
        #expect(controller.engines[0]?.lostAt == nil)
        #expect(controller.engines[0]?.life.state == .launching)
    }
}
