// swift-tools-version:6.0
import PackageDescription

// The folders draw the architecture, bottom up:
//   PxPlatform (system calls) -> PxWire (frames, messages) -> PxTransport (sockets, cluster layout)
//   -> PxEngine / PxController / PxClient -> PxRepl -> pxsh
// PxPython loads CPython at run time; nothing links against libpython at build time.
// The processes on every round trip (controller, engines, REPL) skip Swift's run-time exclusivity checks in
// release builds: they were 15-19 % of the controller's instructions per request (callgrind: swift_beginAccess
// on every class property access). Debug builds, which the tests run, keep the checks. Not on the targets of
// the PxClient library product, which other packages may depend on (unsafe flags would forbid that).
let releaseWithoutExclusivityChecks: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "pxsh",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pxsh", targets: ["pxsh"]),
        // The Swift client library: start or attach to a cluster, run code, move data, map and apply.
        .library(name: "PxClient", targets: ["PxClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: - C shims
        .systemLibrary(
            name: "CLibEdit",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        .target(name: "CPxSys"),

        // MARK: - Pure logic
        // The vocabulary the client, the scheduler and the wire share: ids, engine status, events.
        .target(name: "PxModel"),
        // Numbers as text without Foundation, for the REPL's tables and the benchmark's report.
        .target(name: "PxText"),
        .target(name: "PxWire", dependencies: ["PxModel"]),
        .target(name: "PxScheduling", dependencies: ["PxModel"]),
        // The cluster key, the TCP handshake and MAC'd frames: pure values over PxWire.
        .target(
            name: "PxSecurity",
            dependencies: ["PxWire", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "PxLaunch"),

        // MARK: - Processes and I/O
        // Every system call that Swift cannot make directly goes through PxPlatform's typed wrappers.
        .target(name: "PxPlatform", dependencies: ["CPxSys"]),
        .target(name: "PxTransport", dependencies: ["PxWire", "PxPlatform", "PxSecurity"]),
        .target(name: "PxPython"),
        // The `pxsh` Python package (python/pxsh), embedded for the home engine's `px`.
        .target(
            name: "PxPythonPackage",
            path: "python",
            exclude: ["pyproject.toml", "README.md", "tests"],
            sources: ["EmbeddedPackage.swift"],
            resources: [
                .embedInCode("pxsh/__init__.py"), .embedInCode("pxsh/asyncresult.py"),
                .embedInCode("pxsh/client.py"), .embedInCode("pxsh/errors.py"), .embedInCode("pxsh/executor.py"),
                .embedInCode("pxsh/protocol.py"), .embedInCode("pxsh/serialize.py"), .embedInCode("pxsh/views.py"),
            ]
        ),
        .target(
            name: "PxEngine",
            dependencies: ["PxPython", "PxTransport", "PxPlatform", "PxWire", "PxPythonPackage", "PxSecurity"],
            resources: [.embedInCode("Runtime/pxsh_runtime.py")],
            swiftSettings: releaseWithoutExclusivityChecks
        ),
        .target(
            name: "PxController",
            dependencies: ["PxTransport", "PxPlatform", "PxWire", "PxScheduling", "PxSecurity", "PxLaunch"],
            swiftSettings: releaseWithoutExclusivityChecks
        ),
        .target(name: "PxClient", dependencies: ["PxModel", "PxTransport", "PxPlatform", "PxWire"]),
        .target(name: "PxLineEditor", dependencies: ["CLibEdit"]),
        // The REPL reaches the cluster through PxClient only: never the wire or the transport.
        .target(
            name: "PxRepl",
            dependencies: ["PxClient", "PxLineEditor", "PxPlatform", "PxText"],
            swiftSettings: releaseWithoutExclusivityChecks
        ),
        .target(
            name: "PxBench",
            dependencies: ["PxClient", "PxPlatform", "PxRepl", "PxText", "PxWire"],
            resources: [.embedInCode("Peers/peer_bench.py")]
        ),
        .executableTarget(
            name: "pxsh",
            dependencies: [
                "PxRepl", "PxEngine", "PxController", "PxBench", "PxClient", "PxPlatform", "PxSecurity",
                "PxLaunch", "PxPythonPackage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The Swift runtime and Foundation linked in: every pxsh process (the client, the controller,
            // a spawned engine) starts without resolving about 9,400 symbols in 20 shared libraries, 13 M
            // instructions fewer per process (callgrind). The archives need listing: Foundation's depend on
            // CoreFoundation's and ICU's, which come after them.
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib", "-lFoundation", "-lFoundationInternationalization", "-lFoundationEssentials",
                    "-lCoreFoundation", "-l_FoundationCShims", "-l_FoundationCollections", "-l_FoundationICU",
                    "-lCoreFoundation", "-l_FoundationICU",
                ])
            ]
        ),

        // MARK: - Tests
        .testTarget(name: "PxWireTests", dependencies: ["PxWire"]),
        .testTarget(name: "PxTransportTests", dependencies: ["PxTransport", "PxPlatform", "PxWire"]),
        .testTarget(name: "PxSchedulingTests", dependencies: ["PxScheduling"]),
        .testTarget(
            name: "PxSecurityTests",
            dependencies: ["PxSecurity", "PxWire", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "PxControllerTests",
            dependencies: ["PxController", "PxPlatform", "PxTransport", "PxSecurity", "PxWire"]
        ),
        .testTarget(name: "PxReplTests", dependencies: ["PxRepl", "PxClient", "PxPlatform", "PxText"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["PxClient", "PxPlatform", "PxTransport", "PxWire", "PxSecurity"]
        ),
        .testTarget(name: "TerminalTests"),
        .testTarget(name: "PxLineEditorTests", dependencies: ["PxLineEditor"]),
        .testTarget(name: "PxBenchTests", dependencies: ["PxBench", "PxText", "PxPlatform"]),
        .testTarget(name: "PxLaunchTests", dependencies: ["PxLaunch"]),
    ]
)
