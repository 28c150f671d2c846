package realtime_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Hubs, brokers and their pub/sub connections must stop all they start.
// A writer left waiting on a TestConn nobody reads any more is a test's
// socket that never left (an instance that crashed): a real connection
// ends it when closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/chatrun/chat/realtime.(*TestConn).Write"))
}
