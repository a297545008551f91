import PxModel

/// The operations an engine's Python runtime performs.
///
/// The argument and reply segments of each are documented in `PxEngine/Runtime/pxsh_runtime.py`,
/// which implements them; the raw values must match its op numbers.
public enum EngineOp: UInt8, Sendable, CaseIterable {
    /// Runs a cell: `[code]` -> `[ok, count, has_result, repr]`.
    case execute = 1
    /// Pickles named values or expressions: `[name, expr, ...]` -> `[ok, repr..., blob]`.
    case export = 2
    /// Stores a pickled dict into the namespace: `[blob]` -> `[ok]`.
    case `import` = 3
    /// Combines blobs from several engines on the home engine (pull, gather, map results).
    case collect = 4
    /// Splits a value into contiguous blocks on the home engine.
    case scatter = 5
    /// Calls a pickled `(f, args, kwargs)`: -> `[ok, repr, blob]`.
    case apply = 6
    /// Packs a call of a local function for `apply`.
    case packCall = 7
    /// Pickles a local function and chunks a local sequence for a load-balanced map.
    case prepareMap = 8
    /// Maps a pickled function over one chunk of items.
    case mapChunk = 9
    /// Completes the last token of a line.
    case complete = 10
    /// Tells whether a cell is complete, incomplete or invalid.
    case isComplete = 11
    /// Lists the user's variables.
    case who = 12
    /// Calls a function with pickled arguments (the Python client's apply): `[*fn, *(args, kwargs)]` -> `[ok, *blob]`.
    case call = 13
    /// Calls a function on each argument tuple of a chunk (the Python client's map): `[*fn, *items]` -> `[ok, *blob]`.
    case starmap = 14
    /// Inspects AsyncResults made from Python in the home engine, for `%jobs`, `%timeline`, `%wait`,
    /// `%pxresult` and `%abort`: `[action, name, argument]`.
    case results = 15
    /// Pickles named values or expressions without their reprs (push): `[name, expr, ...]` -> `[ok, blob]`.
    case exportValues = 16
    /// The setup statements of a cell (imports, definitions), for `%restart --replay`: `[code]` -> `[ok, code]`.
    case setupPart = 20
    /// A map's chunk values, sent home as its tasks end and joined when it is collected:
    /// `[token, add|finish|drop, order, names, n, (chunk index, blob) * n]` -> `[ok]`, or for
    /// finish `[ok, "1", repr]` (`[ok, "0"]`: the values are not kept, send them all).
    case mapValues = 21
}

/// Requests to the controller about the cluster itself.
public enum ControlOp: UInt8, Sendable {
    /// Lists the engines: -> one ``EngineStatus`` per segment.
    case engines = 1
    /// Sends SIGINT to the given engines (`segments[0]`: engine ids), for the task each runs.
    case interrupt = 2
    /// Restarts the given engines with the same rank: asks them to exit, kills those that do not
    /// within a grace period (at once with the argument `kill`).
    case restart = 3
    /// Starts `segments[0]` (decimal) more engines.
    case add = 4
    /// Stops the given engines.
    case remove = 5
    /// Cancels the not yet started tasks of the given ids, queued on an engine or not: -> the number
    /// of those that are running and go on, and the number cancelled. With the argument `whole`,
    /// all or nothing: none is cancelled if one of them has started or ended.
    case abort = 6
    /// States of tasks by id: -> one ``TaskStatus`` per segment.
    case status = 7
    /// Shuts the whole cluster down.
    case shutdown = 8
    /// Ctrl-C of the given tasks (`segments[0]`: no engines, then task ids): the running ones get
    /// SIGINT, the others are cancelled with KeyboardInterrupt. -> `[engine ids, task ids]`, the
    /// running tasks signalled and their engines, pairwise.
    case interruptTasks = 9
}
