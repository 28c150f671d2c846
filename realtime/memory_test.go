package realtime_test

import (
	"testing"

	"github.com/chatrun/chat/testkit/brokertest"
)

// The memory broker keeps the Broker contract.
func TestMemoryBroker(t *testing.T) {
	brokertest.Run(t, brokertest.Memory(t))
}
