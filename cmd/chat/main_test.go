package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test here starts and stops real instances, sockets, Redis clients
// and browsers: none may leave a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
