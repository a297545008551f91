import PxPlatform
import PxWire
import Testing

@testable import PxTransport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ClusterLayoutTests {
    @Test func namesEveryFileInTheDirectory() {
        let layout = ClusterLayout(directory: "/run/pxsh/clusters/c1")
        #expect(layout.socketPath == "/run/pxsh/clusters/c1/controller.sock")
        #expect(layout.controllerLogPath == "/run/pxsh/clusters/c1/controller.log")
        #expect(layout.descriptionPath == "/run/pxsh/clusters/c1/cluster.json")
        #expect(layout.keyPath == "/run/pxsh/clusters/c1/cluster.key")
        #expect(layout.engineLogPath(EngineNumber.home) == "/run/pxsh/clusters/c1/engine-home.log")
        #expect(layout.engineLogPath(3) == "/run/pxsh/clusters/c1/engine-3.log")
    }

    @Test(arguments: ["", ".hidden", "a/b", "a b", "x;y"])
    func refusesNamesThatAreNotPlainWords(name: String) {
        #expect(throws: ClusterLayout.InvalidName.self) { try ClusterLayout.named(name, create: false) }
    }

    @Test func writesAndReadsTheDescription() throws {
        let layout = try ClusterLayout.makePrivate()
        defer { layout.remove() }
        let description = ClusterDescription(
            name: "c-1",
            pid: 4242,
            engines: 8,
            python: "/opt/py \"3\"/bin/python3",
            created: 1_800_000_000
        )
        try layout.writeDescription(description)
        #expect(try layout.readDescription() == description)
        #expect(DirectoryListing.names(in: layout.directory) == ["cluster.json"])
        unlink(layout.descriptionPath)
        #expect(throws: SystemError.self) { try layout.readDescription() }
    }

    @Test func refusesADescriptionWithAMissingMember() throws {
        let json = try JSONValue(parsing: #"{"name": "c", "pid": "12", "engines": 1, "python": "p", "created": 0}"#)
        #expect(throws: ClusterDescription.Invalid.self) { try ClusterDescription(json: json) }
        let extra = try JSONValue(
            parsing: #"{"name": "c", "pid": 12, "engines": 1, "python": "p", "created": 0, "x": 1}"#
        )
        #expect(try ClusterDescription(json: extra).pid == 12)
    }
}
