package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test here starts and stops real instances, sockets, Redis clients
// and browsers: none may leave a goroutine behind. One of go-redis's may
// outlive its client by up to a second: after dials to a node that died in
// a failover test fail, the pool probes it again every second, and the
// probe stops at its next wake-up once the pool is closed. The Cloud
// Storage client links OpenCensus, whose package starts one worker for the
// process at init, before any test: it is no test's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
