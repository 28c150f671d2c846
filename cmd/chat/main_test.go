package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test here starts and stops real instances, sockets, Redis clients
// and browsers: none may leave a goroutine behind. One of go-redis's may
// outlive its client by up to a second: after dials to a node that died in
// a failover test fail, the pool probes it again every second, and the
// probe stops at its next wake-up once the pool is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
