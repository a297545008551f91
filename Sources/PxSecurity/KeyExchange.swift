@preconcurrency import Crypto
import Foundation
import PxWire

/// The mutual challenge with which a TCP engine and the controller prove to each other that they
/// hold the cluster's key, before any other frame is read.
///
/// ```
/// engine -> controller   authHello      ["pxsh-tcp", "1", cluster id, engine nonce]
/// controller -> engine   authChallenge  [controller nonce, HMAC(key, "controller" | both nonces | id)]
/// engine -> controller   authProof      [HMAC(key, "engine" | both nonces | id)]
/// controller -> engine   authAccepted   []           (or `refused` with a reason, then close)
/// ```
///
/// Proofs are HMAC-SHA256 over both sides' fresh 32-byte nonces, compared in constant time, so a
/// recorded exchange proves nothing later. Each direction then gets its own session key (an HMAC
/// of the nonces under the cluster key), with which every later frame is sealed (``FrameSealer``).
/// Frames of the exchange are plain and small: at most ``preAuthenticationFrameLimit`` bytes.
public enum KeyExchange {
    public static let nonceCount = 32
    /// The largest frame a peer may send before it has proved that it holds the key.
    public static let preAuthenticationFrameLimit = 512
    static let protocolName = "pxsh-tcp"
    static let protocolVersion = "1"

    /// A fresh random nonce.
    public static func randomNonce() -> Bytes {
        var generator = SystemRandomNumberGenerator()
        return (0..<nonceCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// What a proof or session key authenticates: a label, then each part with its length, so that
    /// no two different lists of parts read the same.
    static func message(label: String, _ parts: [Bytes]) -> Bytes {
        var message = Bytes(text: label)
        for part in parts {
            message.appendLittleEndian(UInt32(part.count))
            message += part
        }
        return message
    }

    static func mac(_ key: SymmetricKey, label: String, _ parts: Bytes...) -> Bytes {
        Bytes(HMAC<SHA256>.authenticationCode(for: message(label: label, parts), using: key))
    }

    /// Whether `proof` is the MAC of the parts, compared in constant time.
    static func isValid(_ proof: Bytes, _ key: SymmetricKey, label: String, _ parts: Bytes...) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: message(label: label, parts), using: key)
    }

    static func sessionKeys(
        _ key: ClusterKey,
        engineNonce: Bytes,
        controllerNonce: Bytes,
        cluster: Bytes,
        isEngine: Bool
    ) -> SessionKeys {
        let master = key.symmetricKey
        let toController = SymmetricKey(
            data: mac(master, label: "pxsh engine to controller", engineNonce, controllerNonce, cluster)
        )
        let toEngine = SymmetricKey(
            data: mac(master, label: "pxsh controller to engine", engineNonce, controllerNonce, cluster)
        )
        return isEngine
            ? SessionKeys(sending: toController, receiving: toEngine)
            : SessionKeys(sending: toEngine, receiving: toController)
    }
}

/// The keys of one authenticated connection, one per direction.
public struct SessionKeys: Sendable {
    let sending: SymmetricKey
    let receiving: SymmetricKey

    /// What seals the frames this side sends.
    public func makeSealer() -> FrameSealer { FrameSealer(key: sending) }
    /// What opens the frames this side receives.
    public func makeOpener(maximumFrameSize: Int = 1 << 31) -> FrameOpener {
        FrameOpener(key: receiving, maximumFrameSize: maximumFrameSize)
    }
}

/// Why a key exchange failed. The connection closes; nothing else changes.
public enum KeyExchangeError: Error, Equatable, CustomStringConvertible {
    /// The peer's proof does not match: it does not hold this cluster's key.
    case wrongKey
    /// The peer names another cluster.
    case wrongCluster(String)
    /// A frame of the wrong kind or shape for this step.
    case malformed(String)
    /// The controller refused, with its reason.
    case refused(String)

    public var description: String {
        switch self {
        case .wrongKey: "wrong key"
        case .wrongCluster(let id): "wrong cluster: the peer asked for cluster \(id)"
        case .malformed(let what): "malformed handshake: \(what)"
        case .refused(let reason): "refused by the controller: \(reason)"
        }
    }
}

// MARK: - The engine's side

extension KeyExchange {
    /// The engine's side of the exchange.
    public struct Initiator: Sendable {
        let key: ClusterKey
        let cluster: Bytes
        let nonce: Bytes
        private var controllerNonce: Bytes?

        public init(key: ClusterKey, cluster: String, nonce: Bytes = KeyExchange.randomNonce()) {
            self.key = key
            self.cluster = Bytes(text: cluster)
            self.nonce = nonce
        }

        /// The first frame to send.
        public var hello: Frame {
            Frame(
                kind: .authHello,
                segments: [
                    Bytes(text: KeyExchange.protocolName), Bytes(text: KeyExchange.protocolVersion), cluster, nonce,
                ]
            )
        }

        /// Checks the controller's proof and answers with the engine's.
        ///
        /// - Throws: ``KeyExchangeError/wrongKey`` when the controller does not hold the key.
        public mutating func respond(to challenge: Frame) throws(KeyExchangeError) -> Frame {
            if challenge.kind == .refused { throw .refused(challenge.segments.first?.text ?? "") }
            guard challenge.kind == .authChallenge, challenge.segments.count == 2,
                challenge.segments[0].count == KeyExchange.nonceCount
            else { throw .malformed("expected the controller's challenge, got \(challenge.kind)") }
            let theirs = challenge.segments[0]
            guard
                KeyExchange.isValid(
                    challenge.segments[1],
                    key.symmetricKey,
                    label: "pxsh controller proof",
                    nonce,
                    theirs,
                    cluster
                )
            else { throw .wrongKey }
            controllerNonce = theirs
            let proof = KeyExchange.mac(key.symmetricKey, label: "pxsh engine proof", nonce, theirs, cluster)
            return Frame(kind: .authProof, segments: [proof])
        }

        /// Reads the controller's verdict; the session keys when it accepted.
        public func finish(_ verdict: Frame) throws(KeyExchangeError) -> SessionKeys {
            if verdict.kind == .refused { throw .refused(verdict.segments.first?.text ?? "") }
            guard verdict.kind == .authAccepted, let controllerNonce else {
                throw .malformed("expected the controller's verdict, got \(verdict.kind)")
            }
            return KeyExchange.sessionKeys(
                key,
                engineNonce: nonce,
                controllerNonce: controllerNonce,
                cluster: cluster,
                isEngine: true
            )
        }
    }
}

// MARK: - The controller's side

extension KeyExchange {
    /// The controller's side of the exchange, one per TCP connection.
    public struct Responder: Sendable {
        public enum Step: Sendable {
            /// Send this frame and wait for the next.
            case reply(Frame)
            /// The peer proved it holds the key: send this frame (plain), then seal everything.
            case accepted(Frame, SessionKeys)
        }

        let key: ClusterKey
        let cluster: Bytes
        let nonce: Bytes
        private var engineNonce: Bytes?

        public init(key: ClusterKey, cluster: String, nonce: Bytes = KeyExchange.randomNonce()) {
            self.key = key
            self.cluster = Bytes(text: cluster)
            self.nonce = nonce
        }

        /// Takes the peer's next frame of the exchange.
        ///
        /// - Throws: ``KeyExchangeError``; the caller sends a `refused` frame and closes.
        public mutating func receive(_ frame: Frame) throws(KeyExchangeError) -> Step {
            guard let engineNonce else {
                guard frame.kind == .authHello, frame.segments.count == 4,
                    frame.segments[0] == Bytes(text: KeyExchange.protocolName)
                else { throw .malformed("expected a pxsh TCP hello, got \(frame.kind)") }
                guard frame.segments[1] == Bytes(text: KeyExchange.protocolVersion) else {
                    throw .malformed("protocol version \(frame.segments[1].text) is not \(KeyExchange.protocolVersion)")
                }
                guard frame.segments[2] == cluster else { throw .wrongCluster(frame.segments[2].text) }
                guard frame.segments[3].count == KeyExchange.nonceCount else { throw .malformed("bad nonce") }
                let theirs = frame.segments[3]
                self.engineNonce = theirs
                let proof = KeyExchange.mac(key.symmetricKey, label: "pxsh controller proof", theirs, nonce, cluster)
                return .reply(Frame(kind: .authChallenge, segments: [nonce, proof]))
            }
            guard frame.kind == .authProof, frame.segments.count == 1 else {
                throw .malformed("expected the engine's proof, got \(frame.kind)")
            }
            guard
                KeyExchange.isValid(
                    frame.segments[0],
                    key.symmetricKey,
                    label: "pxsh engine proof",
                    engineNonce,
                    nonce,
                    cluster
                )
            else { throw .wrongKey }
            let keys = KeyExchange.sessionKeys(
                key,
                engineNonce: engineNonce,
                controllerNonce: nonce,
                cluster: cluster,
                isEngine: false
            )
            return .accepted(Frame(kind: .authAccepted), keys)
        }
    }
}
