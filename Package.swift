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
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
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

        // MARK: - Processes and I/O
        .target(name: "PxTransport", dependencies: ["PxWire", "CPxSys"]),
        .target(name: "PxPython", dependencies: ["CPxSys"]),
        .target(
            name: "PxEngine",
            dependencies: ["PxPython", "PxTransport"],
            resources: [.embedInCode("Runtime/pxsh_runtime.py")]
        ),
        .target(name: "PxController", dependencies: ["PxTransport", "PxScheduling"]),
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
                "PxRepl", "PxEngine", "PxController", "PxBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests
        .testTarget(name: "PxWireTests", dependencies: ["PxWire", "PxTransport"]),
        .testTarget(name: "PxSchedulingTests", dependencies: ["PxScheduling"]),
        .testTarget(name: "PxReplTests", dependencies: ["PxRepl", "PxTransport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["PxClient", "PxTransport"]),
        .testTarget(name: "TerminalTests"),
        .testTarget(name: "PxLineEditorTests", dependencies: ["PxLineEditor"]),
        .testTarget(name: "PxBenchTests", dependencies: ["PxBench"]),
    ]
)
