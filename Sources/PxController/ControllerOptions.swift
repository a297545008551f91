import PxPlatform
import PxTransport

/// How a controller was started.
public struct ControllerOptions: Sendable {
    /// The cluster's private directory: its socket, logs and description live here.
    public var directory: String
    public var engineCount: Int
    /// The python executable engines run, and its libpython.
    public var pythonExecutable: String
    public var libraryPath: String
    /// A named cluster outlives its clients; a private one (nil) ends when its first client leaves.
    public var name: String?
    /// A listening socket the parent already bound at ``socketPath`` (so it could connect at once).
    public var inheritedListener: FileDescriptor?

    public init(
        directory: String,
        engineCount: Int,
        pythonExecutable: String,
        libraryPath: String,
        name: String?,
        inheritedListener: FileDescriptor? = nil
    ) {
        self.inheritedListener = inheritedListener
        self.directory = directory
        self.engineCount = engineCount
        self.pythonExecutable = pythonExecutable
        self.libraryPath = libraryPath
        self.name = name
    }

    /// The names of the files in ``directory``.
    public var layout: ClusterLayout { ClusterLayout(directory: directory) }
    public var socketPath: String { layout.socketPath }
    public var isPrivate: Bool { name == nil }
}
