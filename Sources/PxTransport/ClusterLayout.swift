import PxPlatform
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// A cluster's directory, and the name of every file in it: the one place that knows them.
///
/// A private cluster lives in `RUNTIME/private-PID-N` and goes with its client; a named one lives in
/// `RUNTIME/clusters/NAME` and outlives its clients (``RuntimeDirectory/root()`` is `RUNTIME`).
///
/// ```
/// controller.sock     the controller's listening socket (mode 0700 directory: only this user)
/// controller.log      the controller's messages
/// engine-home.log     the home engine's messages
/// engine-ID.log       each engine's messages
/// cluster.json        a named cluster's description (``ClusterDescription``)
/// cluster.key         the key that authenticates peers of a cluster reached over TCP (mode 0600)
/// connection.json     what engines need to join over TCP: address, port, key (mode 0600)
/// controller.pid      a private cluster's controller, so that a later pxsh can tell it is gone
/// ```
public struct ClusterLayout: Sendable, Hashable {
    /// The cluster's directory.
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    // MARK: - Files

    /// The controller's Unix-domain socket.
    public var socketPath: String { directory + "/controller.sock" }

    /// The controller's log.
    public var controllerLogPath: String { directory + "/controller.log" }

    /// The description of a named cluster, for `pxsh cluster list|status` and for clients.
    public var descriptionPath: String { directory + "/cluster.json" }

    /// The cluster's secret key, for transports that cross machines.
    public var keyPath: String { directory + "/cluster.key" }

    /// The connection file: the controller's TCP address and port and the cluster's key
    /// (see `PxSecurity.ConnectionFile`); there only while the cluster takes engines over TCP.
    public var connectionFilePath: String { directory + "/connection.json" }

    /// A private cluster's controller pid (see ``removeStalePrivateClusters()``).
    public var controllerPIDPath: String { directory + "/controller.pid" }

    /// Records the calling process, a private cluster's controller, in ``controllerPIDPath``.
    public func writeControllerPID() {
        guard let file = try? FileDescriptor.open(controllerPIDPath, flags: O_WRONLY | O_CREAT | O_TRUNC) else {
            return
        }
        try? file.writeAll("\(getpid())\n")
        file.close()
    }

    /// The log of engine `id` (``EngineNumber/home`` for the home engine).
    public func engineLogPath(_ id: Int32) -> String {
        directory + (id == EngineNumber.home ? "/engine-home.log" : "/engine-\(id).log")
    }

    /// The log of the zygote, the process that local engines are forked from.
    public var zygoteLogPath: String { directory + "/zygote.log" }

    // MARK: - Where clusters live

    /// A name that is not a valid cluster name.
    public struct InvalidName: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "a cluster name may use letters, digits, '-', '_' and '.'" }
    }

    /// The directory that holds the named clusters.
    public static func namedClustersRoot() throws -> String {
        try RuntimeDirectory.root() + "/clusters"
    }

    /// The layout of the named cluster `name`, its directory created (mode 0700) if `create` is set.
    ///
    /// - Throws: ``InvalidName`` for a name other than letters, digits, `-`, `_` and `.` (not first);
    ///   ``SystemError`` or ``RuntimeDirectory/UnsafeDirectory`` when the directory cannot be made.
    public static func named(_ name: String, create: Bool = true) throws -> ClusterLayout {
        guard !name.isEmpty, !name.hasPrefix("."),
            name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." })
        else {
            throw InvalidName(name: name)
        }
        let root = try namedClustersRoot()
        let layout = ClusterLayout(directory: root + "/" + name)
        if create {
            try RuntimeDirectory.makePrivateDirectory(root)
            try RuntimeDirectory.makePrivateDirectory(layout.directory)
        }
        return layout
    }

    /// The names of the named clusters that have a directory, sorted.
    public static func namedClusterNames() throws -> [String] {
        (DirectoryListing.names(in: try namedClustersRoot()) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// A new directory for a private cluster of this process. Directories of private clusters whose
    /// controller is gone are removed first.
    public static func makePrivate() throws -> ClusterLayout {
        let root = try RuntimeDirectory.root()
        removeStalePrivateClusters(in: root)
        let layout = ClusterLayout(directory: root + "/private-\(getpid())-\(Clock.monotonicNanoseconds % 1_000_000)")
        try RuntimeDirectory.makePrivateDirectory(layout.directory)
        return layout
    }

    /// Removes the private cluster directories in `root` whose controller is gone: killed with
    /// SIGKILL, say, so that it could not remove its own. A directory whose controller has yet to
    /// write its pid belongs to the pxsh named in it (`private-PID-N`) and is kept while that runs.
    static func removeStalePrivateClusters(in root: String) {
        for name in DirectoryListing.names(in: root) ?? [] where name.hasPrefix("private-") {
            let layout = ClusterLayout(directory: root + "/" + name)
            let recorded = FileDescriptor.lastLines(ofFile: layout.controllerPIDPath, count: 1)
            let owner = pid_t(recorded.filter(\.isNumber)) ?? pid_t(name.split(separator: "-").dropFirst().first ?? "")
            guard let owner, owner > 0, !ProcessTable.isAlive(owner) else { continue }
            // Only a real directory of ours: never follow a link someone else planted.
            if DirectoryListing.isOwnDirectory(layout.directory) { layout.remove() }
        }
    }

    /// Removes the directory and everything in it.
    public func remove() {
        RuntimeDirectory.remove(directory)
    }

    // MARK: - The description

    /// Writes `description` to ``descriptionPath``, replacing what was there in one step.
    public func writeDescription(_ description: ClusterDescription) throws {
        let temporary = descriptionPath + ".\(getpid())"
        let fd = try FileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try fd.writeAll(description.json.text + "\n")
            fd.close()
        } catch {
            fd.close()
            unlink(temporary)
            throw error
        }
        guard rename(temporary, descriptionPath) == 0 else {
            let error = SystemError("rename \(temporary)")
            unlink(temporary)
            throw error
        }
    }

    /// The description in ``descriptionPath``.
    ///
    /// - Throws: ``SystemError`` when it cannot be read, ``JSONParseError`` or
    ///   ``ClusterDescription/Invalid`` when it is not a description.
    public func readDescription() throws -> ClusterDescription {
        let bytes = try FileDescriptor.readAll(descriptionPath)
        return try ClusterDescription(json: JSONValue(parsing: String(decoding: bytes, as: UTF8.self)))
    }
}
