package realtime_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Hubs, brokers and their pub/sub connections must stop all they start.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
