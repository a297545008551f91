import Testing

/// The end-to-end tests: real pxsh processes, real engines with real CPython, over real sockets.
///
/// Every suite is nested in this one, so that they run one at a time: each starts a cluster of its own
/// processes, and tests that kill engines should not compete for the two cores with other clusters.
/// Nothing here asserts on speed (`pxsh bench` does); waits poll for an event, and their timeouts
/// only bound a hang.
@Suite(.serialized) enum EndToEnd {}
