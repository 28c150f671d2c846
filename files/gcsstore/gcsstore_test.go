package gcsstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/files/filestest"
	"github.com/chatrun/chat/files/gcsstore"
)

func TestMain(m *testing.M) {
	// The storage library imports OpenCensus, whose init starts a worker
	// that never ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

func TestStore(t *testing.T) {
	filestest.StoreTests(t, func(t *testing.T) (files.Store, files.Store, func() []string) {
		host, client, bucket := filestest.FakeGCS(t)
		// The second Store has a client of its own, as another instance.
		other, err := gcsstore.NewClient(t.Context(), host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		return gcsstore.New(client, bucket), gcsstore.New(other, bucket), func() []string {
			return filestest.Objects(t, client, bucket)
		}
	})
}
