import PxLaunch
import PxPlatform
import PxTransport

#if canImport(Glibc)
import Glibc
#endif

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
    /// The address the controller listens on for engines over TCP; nil: Unix socket only.
    public var tcpAddress: String?
    /// The address written in the connection file, where engines connect; nil: ``tcpAddress``, or for
    /// a wildcard (`0.0.0.0`, `::`) the address of the default route's interface (``HostAddress``).
    public var tcpLocation: String?
    /// The TCP port; 0 picks a free one.
    public var tcpPort: Int = 0
    /// How the engines start: local children, or `engineCount` engines from a launcher's jobs.
    public var launch = LaunchSettings()

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
    /// The cluster's key (64 hex digits), mode 0600.
    public var keyPath: String { layout.keyPath }
    /// The connection file that `pxsh cluster connection` prints, mode 0600; only with TCP.
    public var connectionFilePath: String { layout.connectionFilePath }
    public var isPrivate: Bool { name == nil }
    /// Whether local engines are forked from a zygote (not with `PXSH_NO_ZYGOTE` set).
    public var usesZygote: Bool { launch.kind == .local && getenv("PXSH_NO_ZYGOTE") == nil }
}
