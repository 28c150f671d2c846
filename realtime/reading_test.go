package realtime_test

import (
	"testing"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit/brokertest"
)

// Every broker keeps the Reading contract: memory, Redis (classic and
// sharded pub/sub) and a Redis Cluster.
func TestReading(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) { brokertest.RunReading(t, f) })
}

// Mentions matches a name as the pages mark it.
func TestMentions(t *testing.T) {
	for _, c := range []struct {
		text, name string
		want       bool
	}{
		{"@Ann hi", "ann", true},
		{"hi @ann", "Ann", true},
		{"@anna", "ann", false},
		{"@ann_", "ann", false},
		{"@ann1", "ann", false},
		{"@ann.", "ann", true},
		{"@@ann", "ann", true},
		{"ann", "ann", false},
		{"@小明，", "小明", true},
		{"@ÉMILE!", "émile", true},
		{"@ann", "", false},
	} {
		if got := realtime.Mentions(c.text, c.name); got != c.want {
			t.Errorf("Mentions(%q, %q) = %v, want %v", c.text, c.name, got, c.want)
		}
	}
}
