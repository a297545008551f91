import PxPlatform
import PxScheduling
import PxSecurity
import PxTransport
import PxWire

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Engines on other hosts: TCP, the cluster key, heartbeats

extension Controller {
    /// A remote engine silent for this long is lost. It sends a heartbeat every second.
    static let heartbeatTimeout: UInt64 = 5_000_000_000
    static let heartbeatInterval: UInt64 = 1_000_000_000
    /// A TCP peer that has not finished its key exchange by then is dropped.
    static let keyExchangeTimeout: UInt64 = 10_000_000_000

    /// Writes the cluster's key (mode 0600) and, when the cluster takes engines over TCP, listens
    /// and writes the connection file (mode 0600) that `pxsh cluster connection` prints.
    func writeKeyAndListenForEngines() throws {
        try Controller.writePrivateFile(options.keyPath, clusterKey.hex + "\n")
        claim(options.keyPath)
        guard let address = options.tcpAddress else { return }
        let (descriptor, port) = try TCPSocket.listen(address: address, port: options.tcpPort)
        tcpListener = descriptor
        let location = options.tcpLocation ?? HostAddress.reachable(listeningOn: address)
        let file = ConnectionFile(
            cluster: clusterID,
            name: options.name ?? "",
            address: location,
            port: port,
            key: clusterKey
        )
        try Controller.writePrivateFile(options.connectionFilePath, file.json)
        claim(options.connectionFilePath)
        let listening = location == address ? "" : " (listening on \(address))"
        log("controller: engines may join over TCP at \(location):\(port)\(listening)")
    }

    /// Creates (or replaces) `path` with mode 0600 before anything is written to it.
    static func writePrivateFile(_ path: String, _ text: String) throws {
        let temporary = path + ".new"
        unlink(temporary)
        let fd = try FileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        defer { fd.close() }
        try fd.writeAll(text)
        guard rename(temporary, path) == 0 else { throw SystemError("rename \(path)") }
    }

    func acceptRemotePeers() {
        guard let tcpListener else { return }
        while let fd = try? TCPSocket.accept(tcpListener) {
            let host = TCPSocket.peerAddress(of: fd)
            guard let connection = try? PeerConnection(fd, maximumFrameSize: KeyExchange.preAuthenticationFrameLimit)
            else {
                fd.close()
                continue
            }
            adopt(connection, pid: 0, host: host)
        }
    }

    /// Takes one frame of a TCP peer's key exchange. A failure is logged, answered with `refused`,
    /// and closes the connection; nothing else in the cluster changes.
    func authenticate(_ peer: Peer, _ frame: Frame) {
        guard var exchange = peer.exchange else { return }
        do {
            switch try exchange.receive(frame) {
            case .reply(let reply):
                peer.exchange = exchange
                peer.connection.enqueue(reply)
            case .accepted(let verdict, let keys):
                peer.exchange = nil
                peer.connection.enqueue(verdict)
                peer.connection.seal(with: keys)
                peer.connection.trust()
            }
        } catch {
            log("controller: refused a TCP connection from \(peer.host ?? "?"): \(error)")
            refuse(peer, saying: "\(error)")
        }
    }

    /// An authenticated engine said hello: give it an id, a rank and the cluster's size.
    ///
    /// Hello fields: `["remote", rank or "", size or "", pid, hostname, "launcher" or ""]`. A rank
    /// that is asked for (an MPI rank, say) is kept when no live engine has it; "launcher" says that
    /// mpiexec or srun gave it (it is `MPI.COMM_WORLD.rank`), so it never changes.
    func registerRemoteEngine(_ peer: Peer, hello: Hello) {
        let fields = hello.fields
        let wantedRank = fields.count > 1 ? Int(fields[1]) : nil
        let wantedSize = fields.count > 2 ? Int(fields[2]) : nil
        let pid = fields.count > 3 ? pid_t(fields[3]) ?? 0 : 0
        // An engine that `%restart` started again (ssh, see ``relaunchRemoteEngine(_:)``) takes over
        // the id, rank and waiting tasks of the one it replaces.
        let replaced = wantedRank.flatMap { rank in
            engines.values.first {
                !$0.isChild && !$0.isHome && $0.life.state == .launching && $0.launcherRank == rank
            }
        }
        if replaced == nil, let wantedRank, launcherJobs.contains(where: { $0.abandonedRanks.contains(wantedRank) }) {
            log("controller: refused an engine of rank \(wantedRank): it was removed before it joined")
            return refuse(peer, saying: "this engine was removed (%add stopped) before it joined")
        }
        let liveRanks = Set(
            engines.values.filter { !$0.isHome && !$0.life.isDead && $0.id != replaced?.id }.map(\.rank)
        )
        // An engine that asks for a rank (a launcher's) gets that id too if no engine has had it, so
        // that `%px -t 2` is rank 2.
        let id =
            replaced?.id
            ?? wantedRank.flatMap {
                $0 >= 0 && $0 < Int(Int32.max) && !usedEngineIDs.contains(Int32($0)) ? Int32($0) : nil
            }
            ?? newEngineID()
        let rank: Int
        if let wantedRank, wantedRank >= 0, !liveRanks.contains(wantedRank) {
            rank = wantedRank
        } else {
            rank = (liveRanks.max() ?? -1) + 1
        }
        let size = wantedSize ?? (liveRanks.count + 1)
        var slot = EngineSlot(
            id: id,
            rank: rank,
            pid: pid,
            since: Clock.realtimeNanoseconds,
            origin: .remote(host: peer.host ?? "?"),
            isRelaunchable: canRelaunch(rank: wantedRank)
        )
        slot.queue = replaced?.queue ?? []
        slot.connection = peer
        slot.launcherRank = wantedRank
        slot.keepsRank = fields.count > 5 && fields[5] == "launcher" && rank == wantedRank
        // A launcher's engines know the size they make; one that joins by itself learns it.
        slot.welcomed = wantedSize == nil ? (rank, size) : nil
        engines[id] = slot
        markUsed(id)
        peer.role = .engine(id)
        // One that joins by itself changes the others' size (a launcher's engines know theirs).
        if wantedSize == nil { ranksNeedSettling = true }
        log("controller: \(slot.label) joined (pid \(pid) on \(fields.count > 4 ? fields[4] : "?"))")
        peer.connection.enqueue(
            Frame(
                kind: .welcome,
                engine: id,
                segments: [Bytes(text: String(id)), Bytes(text: String(rank)), Bytes(text: String(size))]
            )
        )
    }

    /// A remote engine's Python is up: it takes tasks from now on.
    func remoteEngineReady(_ id: Int32) {
        guard var slot = engines[id], slot.life.state == .registering else { return }
        slot.handle(.registered(hasWork: !slot.queue.isEmpty))
        engines[id] = slot
        // Ranks settled while it registered skipped it (engines that join together, as `pxsh engine
        // -n K` starts them, each change the size): it learns them now.
        if let welcomed = slot.welcomed, welcomed != (slot.rank, rankedEngines.count) {
            sendRankAndSize(to: id, size: rankedEngines.count)
        }
        engineConnected(id)
    }

    /// A remote engine removed alone is a rank of an MPI job: its Python has ended and it waits in
    /// MPI_Finalize for the job's other ranks. It is removed now, but its connection stays open
    /// (beating) until the cluster stops, so that it ends with them, or with this controller.
    func remoteEngineWaitsForRanks(_ id: Int32, over peer: Peer) {
        guard let slot = engines[id], slot.connection === peer, slot.life.isBeingRemoved else { return }
        engines[id]?.killDeadline = nil
        log("controller: \(slot.label) left; it waits for its MPI job's other ranks to finalize")
        engineLost(id, reason: "removed")
    }

    /// A signal at its host ends remote engine `id` (SIGTERM, Ctrl-C at its terminal): it has left
    /// the cluster now, and its connection closes once its Python has ended (atexit handlers run).
    func remoteEngineLeaves(_ id: Int32, over peer: Peer, cause: String) {
        guard engines[id]?.connection === peer else { return }
        log("controller: engine \(id): \(cause)")
        engineLost(id, reason: cause)
    }

    /// The loop looks at heartbeats and deadlines this often, not on every turn: they count in
    /// seconds, and their scan of every peer and engine was 2.6 % of the controller's instructions
    /// in a `%px pass` round trip on 4 TCP engines.
    static let heartbeatCheckInterval: UInt64 = 100_000_000

    /// ``checkHeartbeats()``, at most once per ``heartbeatCheckInterval``.
    func checkHeartbeatsIfDue() {
        let now = Clock.monotonicNanoseconds
        guard now &- lastHeartbeatCheck >= Controller.heartbeatCheckInterval else { return }
        lastHeartbeatCheck = now
        checkHeartbeats()
    }

    /// Sends heartbeats to remote engines, and gives up on those that have gone silent and on TCP
    /// peers that have not finished their key exchange in time.
    func checkHeartbeats() {
        let now = Clock.monotonicNanoseconds
        let isTimeToBeat = now - lastHeartbeatSent >= Controller.heartbeatInterval
        if isTimeToBeat { lastHeartbeatSent = now }
        for peer in peers where peer.host != nil && !peer.isClosed {
            if peer.exchange != nil || !peer.connection.isSealed {
                if now - peer.connectedAt > Controller.keyExchangeTimeout {
                    log("controller: refused a TCP connection from \(peer.host ?? "?"): no key exchange within 10 s")
                    close(peer, reason: "no key exchange")
                }
                continue
            }
            let silence = now - peer.lastHeard
            if silence > Controller.heartbeatTimeout {
                close(peer, reason: "no heartbeat for \((silence + 500_000_000) / 1_000_000_000) s")
                continue
            }
            if isTimeToBeat { peer.connection.enqueue(Frame(kind: .heartbeat)) }
        }
        for slot in engines.values where !slot.isChild && slot.killDeadline.map({ now > $0 }) == true {
            engines[slot.id]?.killDeadline = nil
            if let peer = slot.connection { close(peer, reason: "it had not exited 2 s after being asked") }
        }
    }
}
