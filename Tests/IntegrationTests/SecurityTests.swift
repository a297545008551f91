import PxPlatform
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// A named cluster (`pxsh cluster start --name T -n 1`) facing other users and hostile bytes.
    @Suite(.sharedCluster(engines: 1)) struct Security {
        static let isRoot = getuid() == 0

        /// Connects to argv[1]; prints CONNECTED, or REFUSED and the errno (exit status 3).
        static let connectScript = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sys.argv[1])
            except OSError as e:
                print("REFUSED", e.errno)
                sys.exit(3)
            print("CONNECTED")
            """

        @Test func theRuntimeDirectoriesAreMode0700AndOurs() throws {
            let cluster = try NamedCluster.current()
            // .../pxsh-UID (or $XDG_RUNTIME_DIR/pxsh), .../clusters, .../clusters/NAME
            var path = cluster.directory
            for _ in 0..<3 {
                var info = stat()
                try #require(lstat(path, &info) == 0, "stat \(path)")
                #expect(info.st_mode & S_IFMT == S_IFDIR, "\(path) is a directory")
                #expect(info.st_mode & 0o777 == 0o700, "\(path) has mode \(String(info.st_mode & 0o777, radix: 8))")
                #expect(info.st_uid == getuid(), "\(path) is owned by uid \(info.st_uid)")
                path = String(path[..<path.lastIndex(of: "/")!])
            }
        }

        @Test(
            .enabled(if: Executables.runuser != nil, "runuser is missing: cannot act as another user"),
            .enabled(if: isRoot, "only root can run a command as another user with runuser"),
            .enabled(if: Executables.pythonForEveryone != nil, "no python3 that the user nobody may run")
        )
        func anotherUserCannotConnect() throws {
            let cluster = try NamedCluster.current()
            let python = Executables.pythonForEveryone!
            let asNobody = try Executables.run(
                Executables.runuser!,
                ["-u", "nobody", "--", python, "-c", Self.connectScript, cluster.socketPath]
            )
            #expect(asNobody.status == .exited(3), "\(asNobody.transcript)")
            #expect(asNobody.stdout.hasPrefix("REFUSED"), "\(asNobody.transcript)")
            // The same script as ourselves connects: the socket path was right.
            let asOwner = try Executables.run(python, ["-c", Self.connectScript, cluster.socketPath])
            #expect(asOwner.stdout == "CONNECTED\n", "\(asOwner.transcript)")
        }

        /// Past the file permissions, the controller itself checks the peer's uid (SO_PEERCRED).
        ///
        /// Root can get through the 0700 directory while its effective uid is another user's: it keeps
        /// filesystem uid 0 (`setfsuid`), and the kernel records the effective uid as the peer's. The
        /// controller must close that connection, without a welcome, and log the refusal.
        @Test(.enabled(if: isRoot, "needs root to connect with another effective uid"))
        func theControllerRefusesAPeerWithAnotherUID() throws {
            let cluster = try NamedCluster.current()
            let python = try #require(ProcessSpawner.findExecutable("python3"))
            let script = """
                import ctypes, os, socket, sys
                path, uid, hello = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
                if uid != os.geteuid():
                    libc = ctypes.CDLL(None, use_errno=True)
                    os.seteuid(uid)
                    libc.setfsuid(0)
                    assert libc.setfsuid(-1) == 0 and os.geteuid() == uid
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.settimeout(30)
                data = b""
                try:
                    s.sendall(hello)
                    while len(data) < 5:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except (BrokenPipeError, ConnectionResetError):
                    pass
                print("FRAME", data[4] if len(data) >= 5 else "none")
                """
            let hello = WireBytes.clientHello().map { String($0, radix: 16).leftPadded(to: 2) }.joined()
            let foreign = try Executables.run(python, ["-c", script, cluster.socketPath, "65534", hello])
            #expect(foreign.stdout == "FRAME none\n", "uid 65534 got an answer:\n\(foreign.transcript)")
            let own = try Executables.run(python, ["-c", script, cluster.socketPath, String(getuid()), hello])
            #expect(own.stdout == "FRAME 2\n", "our own uid is welcomed (kind 2):\n\(own.transcript)")
            #expect(cluster.controllerLog.contains("refused"), "the refusal is logged:\n\(cluster.controllerLog)")
        }

        /// Bytes no client would send, written to the controller's socket.
        struct BadInput: Sendable, CustomTestStringConvertible {
            var name: String
            var bytes: [UInt8]
            /// Whether the controller can tell at once that it is bad, and must close the connection.
            var closesConnection: Bool
            var testDescription: String { name }
        }

        static let badInputs: [BadInput] = {
            let hello = WireBytes.clientHello()
            func le32(_ value: UInt32) -> [UInt8] { WireBytes.littleEndian(value) }
            return [
                BadInput(
                    name: "unknown kind after a valid length",
                    bytes: le32(40) + [UInt8](repeating: 0xAB, count: 40),
                    closesConnection: true
                ),
                BadInput(
                    name: "hello with a nonsense segment count",
                    bytes: le32(40) + [1, 0, 0, 0] + le32(0xFFFF_FFFE) + [UInt8](repeating: 0, count: 8)
                        + le32(0x7FFF_FFFF)
                        + [UInt8](repeating: 0x55, count: 20),
                    closesConnection: true
                ),
                BadInput(
                    name: "oversized length",
                    bytes: le32(0xFFFF_FFFF) + [UInt8](repeating: 0x41, count: 64),
                    closesConnection: true
                ),
                BadInput(name: "length shorter than a header", bytes: le32(3) + [1, 2, 3], closesConnection: true),
                BadInput(
                    name: "a submit before the handshake",
                    bytes: WireBytes.frame(kind: 10, op: 1, id: 1, segments: [Array("print('sneaky')".utf8)]),
                    closesConnection: true
                ),
                BadInput(
                    name: "a hello with the wrong magic",
                    bytes: WireBytes.frame(kind: 1, segments: ["nope", "1", "client"].map { Array($0.utf8) }),
                    closesConnection: true
                ),
                BadInput(
                    name: "a hello of another protocol version",
                    bytes: WireBytes.clientHello(version: 999),
                    closesConnection: true
                ),
                BadInput(
                    name: "a client posing as engine 0",
                    bytes: WireBytes.frame(
                        kind: 1,
                        segments: ["pxsh", "1", "engine", "0", "0", String(getpid())].map { Array($0.utf8) }
                    ),
                    closesConnection: true
                ),
                BadInput(
                    name: "garbage after a valid handshake",
                    bytes: hello + [UInt8](repeating: 0xFF, count: 64),
                    closesConnection: true
                ),
                BadInput(
                    name: "ASCII text",
                    bytes: Array("GET / HTTP/1.1\r\nHost: pxsh\r\n\r\n".utf8),
                    closesConnection: false
                ),
                BadInput(
                    name: "half a frame, left open",
                    bytes: le32(100) + [10, 0, 0, 0, 1, 2],
                    closesConnection: false
                ),
            ]
        }()

        @Test(arguments: badInputs)
        func badBytesOnTheControllerSocketDoNotStopTheCluster(input: BadInput) throws {
            let cluster = try NamedCluster.current()
            let connection = try RawConnection(path: cluster.socketPath)
            defer { connection.close() }
            connection.send(input.bytes)
            if input.closesConnection {
                #expect(connection.isClosedByPeer(within: 10), "the controller kept the connection open")
            }
            // Whatever that connection holds (open or closed), the cluster answers the next client.
            let run = try cluster.script("%px print('alive', rank)")
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0] alive 0"), "\(run.transcript)\n\(cluster.controllerLog)")
        }

        @Test func aClientThatDisconnectsMidFrameDoesNotStopTheCluster() throws {
            let cluster = try NamedCluster.current()
            for _ in 0..<3 {
                let connection = try RawConnection(path: cluster.socketPath)
                connection.send(WireBytes.clientHello() + WireBytes.littleEndian(UInt32(1000)) + [10, 0, 0])
                connection.close()
            }
            let run = try cluster.script("%px print('alive', rank)")
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0] alive 0"), "\(run.transcript)")
        }
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
