package diskstore_test

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/files/diskstore"
	"github.com/chatrun/chat/files/filestest"
)

// List is what dir holds, sorted.
func list(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func TestStore(t *testing.T) {
	filestest.StoreTests(t, func(t *testing.T) (files.Store, files.Store, func() []string) {
		dir := t.TempDir()
		a, err := diskstore.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := diskstore.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return a, b, func() []string { return list(t, dir) }
	})
}

func TestExpire(t *testing.T) {
	dir := t.TempDir()
	s, err := diskstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	var _ files.Expirer = s
	ctx := t.Context()
	now := time.Now()
	old := files.Info{ID: "OLD2", Created: now.Add(-48 * time.Hour), Claim: "g"}
	young := files.Info{ID: "YOUNG2", Created: now}
	for _, i := range []files.Info{old, young} {
		if err := s.Create(ctx, i, files.Original, bytes.NewReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, i, files.Thumb, bytes.NewReader([]byte("t"))); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Expire(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if got, want := list(t, dir), []string{"YOUNG2", "YOUNG2.json", "YOUNG2.thumb", "YOUNG2.thumb.json"}; !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}

func TestBadID(t *testing.T) {
	s, err := diskstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), "../etc/passwd"); err != files.ErrNotFound {
		t.Errorf("Stat(../etc/passwd) = %v", err)
	}
	if err := s.Create(t.Context(), files.Info{ID: "../x"}, files.Original, bytes.NewReader(nil)); err == nil {
		t.Errorf("Create(../x) succeeded")
	}
}

func TestMain(m *testing.M) {
	// filestest brings in the storage library, which imports OpenCensus,
	// whose init starts a worker that never ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
