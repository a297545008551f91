extension LoadBalancer {
    /// How the load balancer spreads and retries tasks.
    public struct Configuration: Hashable, Sendable {
        /// The most work an engine is given while balanced tasks wait: balanced tasks it holds
        /// plus direct requests queued on it. At least 1.
        ///
        /// A value above 1 lets an engine start its next task as soon as it finishes one, instead
        /// of idling for a round trip to the controller, at the price of committing tasks to an
        /// engine before it is free. With 1, each task goes to an engine that is idle, which is
        /// strict least-loaded scheduling.
        ///
        /// Direct requests count towards the limit because a queued `%px` already keeps the engine
        /// busy: sending balanced work behind it would only keep that work from an engine that
        /// frees up sooner, and from `%abort`.
        public var prefetch: Int

        /// How many times a task is re-queued after the engine that ran it died or was removed,
        /// unless its submission says otherwise. At least 0.
        ///
        /// Only the loss of an engine is retried. A Python exception is a result: running the
        /// task again would raise it again.
        public var defaultRetries: Int

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - prefetch: The most work an engine is given while balanced tasks wait. At least 1.
        ///   - defaultRetries: How many times a task survives the loss of its engine. At least 0.
        public init(prefetch: Int = 2, defaultRetries: Int = 1) {
            self.prefetch = prefetch
            self.defaultRetries = defaultRetries
        }
    }
}
