import PxScheduling
import PxWire

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Control requests: engines, interrupts, life cycle

extension Controller {
    func control(_ frame: Frame, from peer: Peer) {
        guard let op = ControlOp(rawValue: frame.op) else {
            return reply(to: peer, request: frame.id, [Bytes(text: "error"), Bytes(text: "unknown control request")])
        }
        let targets = frame.segments.first.map { IDList.decode($0, as: Int32.self) } ?? []
        switch op {
        case .engines:
            reply(to: peer, request: frame.id, engineRows().map { Bytes(text: $0.line) })
        case .interrupt:
            var interrupted: [Int32] = []
            for id in targets {
                guard let slot = engines[id], slot.life.state == .busy, slot.pid > 0, let task = slot.queue.first else {
                    continue
                }
                interruptRunningTask(task, on: id)
                interrupted.append(id)
            }
            reply(to: peer, request: frame.id, [IDList.encode(interrupted)])
        case .interruptTasks:
            let tasks = frame.segments.first.map { IDList.decode($0, as: UInt64.self) } ?? []
            let running = cancel(
                tasks,
                interruptingRunning: true,
                failure: .exception(name: "KeyboardInterrupt", message: "interrupted before it started", traceback: "")
            )
            reply(
                to: peer,
                request: frame.id,
                [IDList.encode(running.map(\.engine)), IDList.encode(running.map(\.task))]
            )
        case .restart:
            var restarting: Set<Int32> = []
            for id in targets {
                guard let slot = engines[id], slot.pid > 0 else { continue }
                guard slot.life.isRelaunchable else {
                    peer.connection.enqueue(ClusterEvent.notice(cannotRestartMessage(slot)).frame)
                    continue
                }
                if !slot.isChild {
                    restartRemoteEngine(id)
                } else if slot.life.isDead {
                    launchEngine(id: id, rank: slot.rank)
                } else if slot.life.state != .restarting {
                    stopEngine(id, plan: .restart, immediately: argument(of: frame) == "kill")
                } else if argument(of: frame) == "kill" {
                    engines[id] = slot
                    launcher.signal(slot.pid, SIGKILL)
                }
                restarting.insert(id)
            }
            awaitEngines(restarting, peer: peer, request: frame.id)
        case .add:
            if let refusal = cannotAddMessage {
                // No ids, and why: the client throws it.
                return reply(to: peer, request: frame.id, [IDList.encode([Int32]()), Bytes(text: refusal)])
            }
            let count = max(0, min(Int(argument(of: frame) ?? "") ?? 0, 256))
            // The engines there keep ranks 0..<staying; the new ones take the ranks after them.
            renumberRanks()
            let staying = rankedEngines.count
            var added: Set<Int32> = []
            if options.launch.kind == .ssh {
                added = launchSSHEngines(ranks: staying..<(staying + count))
            } else {
                for offset in 0..<count {
                    let id = newEngineID()
                    if launchEngine(id: id, rank: staying + offset, size: staying + count) { added.insert(id) }
                }
            }
            awaitEngines(added, peer: peer, request: frame.id)
        case .remove:
            var removed: [Int32] = []
            for id in targets where id != EngineNumber.home {
                guard let slot = engines[id] else { continue }
                if slot.life.isDead {
                    removeEngine(id)
                } else if !slot.isChild {
                    stopRemoteEngine(id)
                } else if !slot.life.isBeingRemoved {
                    stopEngine(id, plan: .remove)
                }
                removed.append(id)
            }
            // Every other client's `all` drops them; the one that asked learns from the reply.
            for id in removed { broadcast(.engineRemoved(engine: id), except: peer) }
            renumberRanks()
            failBalancedTasksIfNoEngine()
            reply(to: peer, request: frame.id, [IDList.encode(removed)])
        case .abort:
            let tasks = frame.segments.first.map { IDList.decode($0, as: UInt64.self) } ?? []
            let open = tasks.filter { records[$0].map { $0.reply == nil } ?? false }
            if argument(of: frame) == "whole" {
                // A Future's cancel(): all of the tasks, or none if one of them has started or ended.
                let started = open.filter { status(of: $0) != "pending" }
                if open.count < tasks.count || !started.isEmpty {
                    return reply(to: peer, request: frame.id, [Bytes(text: String(started.count)), Bytes(text: "0")])
                }
            }
            let running = cancel(
                open,
                interruptingRunning: false,
                failure: .aborted("aborted before it started")
            )
            reply(
                to: peer,
                request: frame.id,
                [Bytes(text: String(running.count)), Bytes(text: String(open.count - running.count))]
            )
        case .status:
            let tasks = frame.segments.first.map { IDList.decode($0, as: UInt64.self) } ?? []
            reply(to: peer, request: frame.id, tasks.map { Bytes(text: status(of: $0)) })
        case .shutdown:
            reply(to: peer, request: frame.id, [])
            peer.connection.flush()
            if launchersAwaitingEngines && !clientsAwaitingWelcome.isEmpty {
                // The client that started it still waits for the engines: tell it why they will not come.
                launcherFailed("the cluster was stopped (pxsh cluster stop) before its engines had all joined")
            }
            isShuttingDown = true
        }
    }

    /// Why a remote engine is not restarted: it stays as it is. mpiexec and srun start their engines
    /// as one job whose ranks cannot be started again one by one (ssh's can).
    private func cannotRestartMessage(_ slot: EngineSlot) -> String {
        if let rank = slot.launcherRank, let job = launcherJob(ofRank: rank) {
            return "cannot restart \(slot.label): its launcher's job (\(job.label)) started it, and pxsh cannot "
                + "start one engine of a launcher's job again; `%remove \(slot.id)` removes it, and `pxsh cluster "
                + "stop` then `start` makes the whole set again"
        }
        return "cannot restart \(slot.label): it joined from another host, and pxsh has no launcher there to "
            + "start it again; start a new engine there with `pxsh engine --connection-file`"
    }

    /// Why `%add` cannot start engines with this cluster's launcher; nil when it can (local, ssh).
    private var cannotAddMessage: String? {
        switch options.launch.kind {
        case .mpi:
            return "cannot add engines to an MPI job: mpiexec started its engines as one job, whose size "
                + "(MPI.COMM_WORLD.size) is fixed; start the cluster again with the -n you need"
        case .slurm:
            return "cannot add engines to a Slurm job: srun started its engines as one job step of fixed size; "
                + "add engines with a step or job of their own, which joins with the connection file: "
                + "srun -n K pxsh engine --connection-file \(options.connectionFilePath)"
        case .local, .ssh:
            return nil
        }
    }

    /// The text argument of a control request, after its ids.
    private func argument(of frame: Frame) -> String? {
        frame.segments.count > 1 ? frame.segments[1].text : nil
    }

    /// "pending", "running SINCE_NS" or "done" (unknown ids are done: their records were delivered).
    private func status(of task: UInt64) -> String {
        guard let record = records[task], record.reply == nil else { return "done" }
        guard let engine = record.engine, let slot = engines[engine], slot.queue.first == task,
            slot.connection != nil
        else { return "pending" }
        return "running \(slot.since)"
    }

    private func awaitEngines(_ ids: Set<Int32>, peer: Peer, request: UInt64) {
        if ids.isEmpty { return reply(to: peer, request: request, [IDList.encode([Int32]())]) }
        controlsAwaitingEngines.append((peer, request, ids, ids))
    }

    /// Answers restart and add requests whose engines have all come up (or died trying), with the ids
    /// of those that are up.
    func answerControlsAwaiting(engine id: Int32) {
        // One that has left the cluster (a remote engine whose restart failed) is done too.
        let slot = engines[id]
        if let slot, slot.life.isStarting && !slot.life.isDead { return }
        var remaining: [(peer: Peer, request: UInt64, engines: Set<Int32>, asked: Set<Int32>)] = []
        for var waiting in controlsAwaitingEngines {
            if waiting.engines.contains(id) && slot?.life.isBeingRemoved != true { waiting.engines.remove(id) }
            if waiting.engines.isEmpty {
                let up = waiting.asked.filter { engines[$0].map { !$0.life.isDead } ?? false }.sorted()
                if !waiting.peer.isClosed { reply(to: waiting.peer, request: waiting.request, [IDList.encode(up)]) }
            } else {
                remaining.append(waiting)
            }
        }
        controlsAwaitingEngines = remaining
    }

    private func reply(to peer: Peer, request: UInt64, _ segments: [Bytes]) {
        peer.connection.enqueue(Frame(kind: .controlReply, id: request, segments: segments))
    }
}
