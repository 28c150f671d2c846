package redisbroker

// WithArchiveStreamIdle lets tests see drained streams go without waiting
// a minute.
var WithArchiveStreamIdle = withArchiveStreamIdle
