// swift-tools-version:6.0
import PackageDescription

// The folders draw the architecture, bottom up:
//   PxWire (frames, messages) -> PxTransport (sockets) -> PxEngine / PxController / PxClient -> PxRepl -> pxsh
// PxPython loads CPython at run time; nothing links against libpython at build time.
let package = Package(
    name: "pxsh",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pxsh", targets: ["pxsh"])
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
        .target(name: "PxWire"),
        .target(name: "PxScheduling"),
        // The cluster key, the TCP handshake and MAC'd frames: pure values over PxWire.
        .target(
            name: "PxSecurity",
            dependencies: ["PxWire", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // MARK: - Processes and I/O
        .target(name: "PxTransport", dependencies: ["PxWire", "PxSecurity", "CPxSys"]),
        .target(name: "PxPython", dependencies: ["CPxSys"]),
        .target(
            name: "PxEngine",
            dependencies: ["PxPython", "PxTransport", "PxSecurity"],
            resources: [.embedInCode("Runtime/pxsh_runtime.py")]
        ),
        .target(name: "PxController", dependencies: ["PxTransport", "PxScheduling", "PxSecurity"]),
        .target(name: "PxClient", dependencies: ["PxTransport"]),
        .target(name: "PxLineEditor", dependencies: ["CLibEdit"]),
        .target(name: "PxRepl", dependencies: ["PxClient", "PxLineEditor", "CPxSys"]),
        .target(
            name: "PxBench",
            dependencies: ["PxClient", "PxTransport", "PxWire"],
            resources: [.embedInCode("Peers/peer_bench.py")]
        ),
        .executableTarget(
            name: "pxsh",
            dependencies: [
                "PxRepl", "PxEngine", "PxController", "PxBench", "PxSecurity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests
        .testTarget(name: "PxWireTests", dependencies: ["PxWire", "PxTransport"]),
        .testTarget(name: "PxSchedulingTests", dependencies: ["PxScheduling"]),
        .testTarget(name: "PxSecurityTests", dependencies: ["PxSecurity", "PxWire"]),
        .testTarget(
            name: "PxControllerTests",
            dependencies: ["PxController", "PxTransport", "PxSecurity", "PxWire"]
        ),
        .testTarget(name: "PxReplTests", dependencies: ["PxRepl", "PxTransport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["PxClient", "PxTransport", "PxSecurity"]),
        .testTarget(name: "TerminalTests"),
        .testTarget(name: "PxLineEditorTests", dependencies: ["PxLineEditor"]),
        .testTarget(name: "PxBenchTests", dependencies: ["PxBench"]),
    ]
)
