import Testing

@testable import PxWire

@Suite struct TaskReplyTests {
    @Test(arguments: [
        (
            TaskFailureReply.exception(name: "ZeroDivisionError", message: "division by zero", traceback: "tb"),
            ["error", "ZeroDivisionError", "division by zero", "tb"]
        ),
        (.engineError("engine 1 (rank 1) died: signal 9"), ["engine-error", "engine 1 (rank 1) died: signal 9"]),
        (.aborted("the task was aborted before it started"), ["aborted", "the task was aborted before it started"]),
    ])
    func aFailedReplySaysWhyWithItsStatusNotAName(failure: TaskFailureReply, segments: [String]) {
        let frame = Frame.failedReply(op: EngineOp.execute.rawValue, engine: 1, task: 9, failure)
        #expect(frame.kind == .reply && frame.flags == .failed && frame.engine == 1 && frame.id == 9)
        #expect(TaskTiming(frame.segments[0]) == TaskTiming(started: 0, completed: 0))
        #expect(frame.segments.dropFirst().map(\.text) == segments)
        #expect(ReplyStatus(rawValue: segments[0]) != nil)
    }
}
