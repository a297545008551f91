import Foundation
import PxWire
import Testing

@testable import PxSecurity

@Suite struct KeyExchangeTests {
    let key = ClusterKey.random()

    /// Runs the whole exchange between an engine holding `engineKey` and a controller holding `key`.
    func exchange(
        engineKey: ClusterKey,
        cluster: String = "c1"
    ) throws -> (engine: SessionKeys, controller: SessionKeys) {
        var engine = KeyExchange.Initiator(key: engineKey, cluster: cluster)
        var controller = KeyExchange.Responder(key: key, cluster: "c1")
        guard case .reply(let challenge) = try controller.receive(engine.hello) else {
            Issue.record("no challenge")
            throw KeyExchangeError.malformed("test")
        }
        let proof = try engine.respond(to: challenge)
        guard case .accepted(let verdict, let controllerKeys) = try controller.receive(proof) else {
            Issue.record("not accepted")
            throw KeyExchangeError.malformed("test")
        }
        return (try engine.finish(verdict), controllerKeys)
    }

    @Test func theSameKeyAuthenticatesBothWays() throws {
        let (engine, controller) = try exchange(engineKey: key)
        var toController = engine.makeSealer()
        var atController = controller.makeOpener()
        var toEngine = controller.makeSealer()
        var atEngine = engine.makeOpener()
        let frame = Frame(kind: .task, op: 1, engine: 3, id: 9, segments: [Bytes(text: "pass")])
        atController.feed(toController.seal(frame))
        #expect(try atController.nextFrame() == frame)
        atEngine.feed(toEngine.seal(frame))
        #expect(try atEngine.nextFrame() == frame)
    }

    @Test func anEngineWithAnotherKeyRejectsTheControllersProof() throws {
        var engine = KeyExchange.Initiator(key: ClusterKey.random(), cluster: "c1")
        var controller = KeyExchange.Responder(key: key, cluster: "c1")
        guard case .reply(let challenge) = try controller.receive(engine.hello) else {
            Issue.record("no reply")
            return
        }
        expectError(KeyExchangeError.wrongKey) { try engine.respond(to: challenge) }
    }

    @Test func aControllerRejectsAProofMadeWithAnotherKey() throws {
        var controller = KeyExchange.Responder(key: key, cluster: "c1")
        var impostor = KeyExchange.Initiator(key: ClusterKey.random(), cluster: "c1")
        guard case .reply(let challenge) = try controller.receive(impostor.hello) else {
            Issue.record("no reply")
            return
        }
        // The impostor cannot check the controller's proof; it sends a proof made with its own key anyway.
        let forged = KeyExchange.mac(
            impostor.key.symmetricKey,
            label: "pxsh engine proof",
            impostor.nonce,
            challenge.segments[0],
            Bytes(text: "c1")
        )
        expectError(KeyExchangeError.wrongKey) {
            try controller.receive(Frame(kind: .authProof, segments: [forged]))
        }
        expectError(KeyExchangeError.wrongKey) { try impostor.respond(to: challenge) }
    }

    @Test func aRecordedProofDoesNotOpenAnotherConnection() throws {
        // Replay of a whole exchange: the controller's fresh nonce makes the old proof worthless.
        var engine = KeyExchange.Initiator(key: key, cluster: "c1")
        var first = KeyExchange.Responder(key: key, cluster: "c1")
        guard case .reply(let challenge) = try first.receive(engine.hello) else {
            Issue.record("no reply")
            return
        }
        let proof = try engine.respond(to: challenge)
        var second = KeyExchange.Responder(key: key, cluster: "c1")
        _ = try second.receive(engine.hello)
        expectError(KeyExchangeError.wrongKey) { try second.receive(proof) }
    }

    @Test func anotherClusterOrGarbageIsRefused() throws {
        var controller = KeyExchange.Responder(key: key, cluster: "c1")
        let other = KeyExchange.Initiator(key: key, cluster: "c2")
        expectError(KeyExchangeError.wrongCluster("c2")) { try controller.receive(other.hello) }
        var fresh = KeyExchange.Responder(key: key, cluster: "c1")
        expectError(KeyExchangeError.self) { try fresh.receive(Frame(kind: .hello)) }
        var early = KeyExchange.Responder(key: key, cluster: "c1")
        expectError(KeyExchangeError.self) { try early.receive(Frame(kind: .authProof, segments: [[1, 2]])) }
    }

    @Test func keysReadBackFromHex() {
        let key = ClusterKey.random()
        #expect(key.hex.count == 64)
        #expect(ClusterKey(hex: key.hex + "\n") == key)
        #expect(ClusterKey(hex: String(key.hex.dropLast(2))) == nil)
        #expect(ClusterKey(hex: String(repeating: "zz", count: 32)) == nil)
        #expect(ClusterKey.random() != ClusterKey.random())
    }
}

@Suite struct ConnectionFileTests {
    @Test func roundTripsThroughJSON() throws {
        let file = ConnectionFile(
            cluster: ConnectionFile.makeClusterID(),
            name: "demo \"x\"",
            address: "10.1.0.1",
            port: 40123,
            key: .random()
        )
        #expect(try ConnectionFile(json: Bytes(text: file.json)) == file)
        #expect(file.json.hasSuffix("}\n"))
    }

    @Test func namesWhatIsWrong() {
        let valid = ConnectionFile(cluster: "c", name: "", address: "a", port: 1, key: .random())
        for (text, reason) in [
            ("[]", "not a JSON object"), ("{}", "version"),
            (valid.json.replacingOccurrences(of: "\"port\": 1", with: "\"port\": 0"), "port"),
            (valid.json.replacingOccurrences(of: valid.key.hex, with: "abc"), "key"),
        ] {
            #expect {
                try ConnectionFile(json: Bytes(text: text))
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
    }
}

/// Expects `body` to throw exactly `expected` (or, given a type, any error of it).
func expectError<E: Error & Equatable, Result>(
    _ expected: E,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Result
) {
    do {
        _ = try body()
        Issue.record("no error; expected \(expected)", sourceLocation: sourceLocation)
    } catch {
        #expect((error as? E) == expected, "\(error)", sourceLocation: sourceLocation)
    }
}

func expectError<E: Error, Result>(
    _ type: E.Type,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Result
) {
    do {
        _ = try body()
        Issue.record("no error; expected a \(type)", sourceLocation: sourceLocation)
    } catch {
        #expect(error is E, "\(error)", sourceLocation: sourceLocation)
    }
}
