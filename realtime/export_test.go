package realtime

// What this package's external tests (realtime_test) use of its insides:
// exported here, for tests only.

// DefaultQueueSize is defaultQueueSize.
const DefaultQueueSize = defaultQueueSize

// PresenceTiming is presenceTiming.
type PresenceTiming = presenceTiming

// WithPresenceTiming is withPresenceTiming.
var WithPresenceTiming = withPresenceTiming
