import PxClient
import PxWire

// MARK: - AsyncResults made from Python at the prompt (the home engine's `px`)

/// The magics' registry holds the results the magics made; results made from Python live in the
/// home engine. `%jobs` lists both, and `%timeline`, `%wait`, `%pxresult`, `%result` and `%abort` take a
/// local variable holding one when no magic result has that name.
extension Session {
    /// Whether the magics' registry has a result called `name`.
    func knowsResult(named name: String) -> Bool {
        (try? result(named: name)) != nil
    }

    /// Asks the home engine about the AsyncResult that the local variable `name` holds: nil when it
    /// holds none (or a magic result has that name), else the answer's fields (none if the question
    /// was interrupted or failed, which has been shown). Ctrl-C interrupts it as it does a local line,
    /// and so the result's engines too, through `px`.
    func pythonResult(_ query: PythonResultQuery, _ name: String?, argument: String = "") throws -> [String]? {
        guard let name, !knowsResult(named: name), name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
        else {
            return nil
        }
        guard let result = try ask(query, name: name, argument: argument) else { return [] }
        return result.pythonResultAnswer
    }

    /// The rows of `%jobs` for results made from Python.
    func pythonJobRows() -> [Renderer.JobRow] {
        guard let result = try? ask(.jobs, name: "", argument: ""), let rows = result.pythonResultAnswer else {
            return []
        }
        return rows.compactMap { row in
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 7, let done = Int(fields[4]), let total = Int(fields[5]),
                let elapsed = Double(fields[6])
            else { return nil }
            return Renderer.JobRow(
                id: fields[0],
                kind: fields[1],
                targets: fields[2],
                state: fields[3],
                done: done,
                total: total,
                elapsed: elapsed
            )
        }
    }

    /// The timeline of a result made from Python, or nil.
    func pythonTimeline(_ name: String?) throws -> String? {
        guard let answer = try pythonResult(.timeline, name) else { return nil }
        guard let title = answer.first else { return "" }
        let tasks = answer.dropFirst().compactMap { line -> Renderer.TimelineTask? in
            let fields = line.split(separator: " ")
            guard fields.count == 4, let engine = Int32(fields[0]), let started = UInt64(fields[1]),
                let completed = UInt64(fields[2])
            else { return nil }
            return Renderer.TimelineTask(
                engine: engine,
                started: started,
                completed: completed,
                failed: fields[3] == "1"
            )
        }
        return renderer.timeline(tasks, title: title)
    }

    /// Hands the results named with `-o` over to the home engine, where `px.result(NAME)` makes each an
    /// AsyncResult for Python code: once with its name while it runs, again with its record (values,
    /// errors, output, timings) once it is done and its values are home. Runs before every command,
    /// as ``storeFinishedValues()`` does; one request for all, none when no named result changed.
    func handOverNamedResults() {
        var records: [Bytes] = []
        var handed: [(Int, Bool)] = []
        for result in results where result.name != nil && handedOver[result.number] != true {
            let valuesAreHome = !hasValues(result) || result.isFailed || collectedValues[result.number] != nil
            let isDone = result.isReady && valuesAreHome
            guard isDone || handedOver[result.number] == nil else { continue }
            records += handOverRecord(of: result, isDone: isDone)
            handed.append((result.number, isDone))
        }
        guard !records.isEmpty else { return }
        // Handed over or not, each is tried once per state: a failure is shown once, not before every command.
        for (number, isDone) in handed { handedOver[number] = isDone }
        do {
            let request = try cluster.query(.adopt, records: records)
            try cluster.wait(for: request)
            if let error = request.errors.first { throw error }
        } catch let error as RemoteError {
            emit(renderer.localError(error))
        } catch {
            emit(renderer.failure("the named results were not handed over to px: \(error)"))
        }
    }

    /// A result's record as `px` reads it (`RESULTS adopt` in the engine runtime).
    private func handOverRecord(of result: AsyncResult, isDone: Bool) -> [Bytes] {
        let values = isDone && hasValues(result) && !result.isFailed ? keptValues(of: result) ?? "" : ""
        let tasks = isDone ? result.tasks : []
        let firstID = result.firstTaskID.map { String($0) } ?? ""
        let header: [String] = [
            isDone ? "done" : "pending", result.name ?? "", String(result.number), result.label, result.operation,
            String(result.submitted), result.readyAt.map { String($0) } ?? "", firstID, values,
            result.notices.joined(separator: "\n"), String(tasks.count),
        ]
        var fields = header.map { Bytes(text: $0) }
        for task in tasks {
            let error = task.error(operation: result.operation)
            let status: String
            switch error?.kind {
            case nil: status = "ok"
            case .taskAborted: status = "aborted"
            case .engineError: status = "engine-error"
            case .exception, .disconnected: status = "error"
            }
            let engine = task.engine.map { String($0) } ?? ""
            let started = task.started.map { String($0) } ?? ""
            let completed = task.completed.map { String($0) } ?? ""
            let texts: [String] = [
                engine, started, completed, status, error?.name ?? "", error?.value ?? "", error?.traceback ?? "",
                error?.operation ?? "",
            ]
            fields += texts.map { Bytes(text: $0) }
            fields += [task.stdout, task.stderr]
            let execute = result.kind == .execute ? Array((task.reply ?? []).dropFirst().prefix(3)) : []
            fields += execute.count == 3 ? execute : [[], [], []]
        }
        return fields
    }

    /// Runs the query on the home engine; nil if it was interrupted or failed (and shown).
    private func ask(_ query: PythonResultQuery, name: String, argument: String) throws -> AsyncResult? {
        let result = try cluster.query(query, pythonResult: name, argument: argument)
        guard try waitInterruptibly(result, timeout: nil, isLocal: true) else { return nil }
        if let error = result.errors.first {
            emit(renderer.localError(error))
            return nil
        }
        return result
    }
}
