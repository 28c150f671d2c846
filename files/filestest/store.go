package filestest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatrun/chat/files"
)

// StoreTests are the tests every files.Store passes. open gives two Stores
// over the same place (as two instances would have) and lists what that
// place holds, to see that nothing is left behind.
func StoreTests(t *testing.T, open func(t *testing.T) (a, b files.Store, list func() []string)) {
	ctx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	newInfo := func(created time.Time) files.Info {
		return files.Info{ID: rand.Text(), Name: "notes.txt", Type: "text/plain; charset=utf-8", Room: "room1", Owner: "sess1", Created: created.UTC().Truncate(time.Millisecond)}
	}
	create := func(t *testing.T, s files.Store, info files.Info, body string) {
		t.Helper()
		if err := s.Create(ctx(t), info, files.Original, bytes.NewReader([]byte(body))); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	read := func(t *testing.T, rc io.ReadCloser) string {
		t.Helper()
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		return string(b)
	}

	t.Run("CreateOpenStat", func(t *testing.T) {
		s, _, list := open(t)
		info := newInfo(time.Now())
		info.Image, info.Width, info.Height, info.Type = true, 36, 24, "image/png"
		create(t, s, info, "hello")
		got, err := s.Stat(ctx(t), info.ID)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		want := info
		want.Size = 5
		if !got.Created.Equal(want.Created) {
			t.Errorf("Created = %v, want %v", got.Created, want.Created)
		}
		got.Created = want.Created
		if got != want {
			t.Errorf("Stat = %+v, want %+v", got, want)
		}
		rc, oi, err := s.Open(ctx(t), info.ID, files.Original)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if b := read(t, rc); b != "hello" || oi.ID != info.ID || oi.Type != "image/png" || oi.Size != 5 {
			t.Errorf("Open = %q, %+v", b, oi)
		}
		if _, _, err := s.Open(ctx(t), info.ID, files.Thumb); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("Open(Thumb) before there is one: %v, want ErrNotFound", err)
		}
		thumb := info
		thumb.Type = "image/jpeg"
		if err := s.Create(ctx(t), thumb, files.Thumb, bytes.NewReader([]byte("small"))); err != nil {
			t.Fatalf("Create(Thumb): %v", err)
		}
		rc, ti, err := s.Open(ctx(t), info.ID, files.Thumb)
		if err != nil {
			t.Fatalf("Open(Thumb): %v", err)
		}
		if b := read(t, rc); b != "small" || ti.Type != "image/jpeg" || ti.Size != 5 || ti.ID != info.ID {
			t.Errorf("Open(Thumb) = %q, %+v", b, ti)
		}
		if got, _ := s.Stat(ctx(t), info.ID); got.Type != "image/png" || got.Size != 5 {
			t.Errorf("Stat after the thumbnail = %+v", got)
		}
		if err := s.Delete(ctx(t), info.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Stat(ctx(t), info.ID); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("Stat after Delete: %v", err)
		}
		if _, _, err := s.Open(ctx(t), info.ID, files.Thumb); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("Open(Thumb) after Delete: %v", err)
		}
		if l := list(); len(l) != 0 {
			t.Errorf("left after Delete: %q", l)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		s, _, _ := open(t)
		id := rand.Text()
		if _, err := s.Stat(ctx(t), id); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("Stat: %v", err)
		}
		if _, _, err := s.Open(ctx(t), id, files.Original); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("Open: %v", err)
		}
		if err := s.Claim(ctx(t), id, "g"); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("Claim: %v", err)
		}
		if err := s.Delete(ctx(t), id); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})

	t.Run("Claim", func(t *testing.T) {
		s, other, _ := open(t)
		info := newInfo(time.Now())
		create(t, s, info, "x")
		if err := s.Claim(ctx(t), info.ID, "g1"); err != nil {
			t.Fatalf("Claim: %v", err)
		}
		if err := other.Claim(ctx(t), info.ID, "g1"); err != nil {
			t.Errorf("Claim repeated: %v", err)
		}
		if err := other.Claim(ctx(t), info.ID, "g2"); !errors.Is(err, files.ErrClaimed) {
			t.Errorf("Claim by another guard: %v, want ErrClaimed", err)
		}
		if got, err := other.Stat(ctx(t), info.ID); err != nil || got.Claim != "g1" {
			t.Errorf("Stat = %+v, %v; want Claim g1", got, err)
		}
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		a, b, _ := open(t)
		for range 8 {
			info := newInfo(time.Now())
			create(t, a, info, "x")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, s := range []files.Store{a, b} {
				wg.Go(func() { errs[i] = s.Claim(ctx(t), info.ID, []string{"ga", "gb"}[i]) })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, files.ErrClaimed):
					t.Errorf("Claim: %v", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d claims won (%v), want 1", won, errs)
			}
			got, err := a.Stat(ctx(t), info.ID)
			winner := "ga"
			if errs[0] != nil {
				winner = "gb"
			}
			if err != nil || got.Claim != winner {
				t.Errorf("Stat = %+v, %v; want Claim %s", got, err, winner)
			}
		}
	})

	t.Run("Pending", func(t *testing.T) {
		s, _, _ := open(t)
		now := time.Now()
		old, claimed, young := newInfo(now.Add(-2*time.Hour)), newInfo(now.Add(-2*time.Hour)), newInfo(now)
		for _, i := range []files.Info{old, claimed, young} {
			create(t, s, i, "x")
		}
		if err := s.Claim(ctx(t), claimed.ID, "g"); err != nil {
			t.Fatalf("Claim: %v", err)
		}
		got, err := s.Pending(ctx(t), now.Add(-time.Hour))
		if err != nil || !slices.Equal(got, []string{old.ID}) {
			t.Errorf("Pending(an hour ago) = %q, %v; want [%s]", got, err, old.ID)
		}
		got, err = s.Pending(ctx(t), now.Add(time.Minute))
		slices.Sort(got)
		want := []string{old.ID, young.ID}
		slices.Sort(want)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Pending(now) = %q, %v; want %q", got, err, want)
		}
		if err := s.Delete(ctx(t), old.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Pending(ctx(t), now.Add(-time.Hour)); err != nil || len(got) != 0 {
			t.Errorf("Pending after Delete = %q, %v", got, err)
		}
	})

	t.Run("ReaderError", func(t *testing.T) {
		s, _, list := open(t)
		before := list()
		info := newInfo(time.Now())
		boom := errors.New("boom")
		// Again and again: a store that ends its upload cleanly, racing
		// the error, keeps a short file now and then.
		for _, n := range []int{1 << 20, 1, 1000, 64 << 10, 300 << 10, 2 << 20} {
			r := io.MultiReader(bytes.NewReader(Big(n)), errReader{boom})
			if err := s.Create(ctx(t), info, files.Original, r); !errors.Is(err, boom) {
				t.Errorf("Create = %v, want %v", err, boom)
			}
			if _, err := s.Stat(ctx(t), info.ID); !errors.Is(err, files.ErrNotFound) {
				t.Errorf("Stat after a failed Create: %v", err)
			}
			if after := list(); !slices.Equal(before, after) {
				t.Fatalf("a failed Create of %d bytes left %q (before %q)", n, after, before)
			}
		}
		// And a cancelled one.
		cctx, cancel := context.WithCancel(ctx(t))
		r := io.MultiReader(bytes.NewReader(Big(1<<20)), cancelReader{cancel}, bytes.NewReader(Big(1<<10)))
		if err := s.Create(cctx, info, files.Original, r); err == nil {
			t.Errorf("Create with its context cancelled midway succeeded")
		}
		if after := list(); !slices.Equal(before, after) {
			t.Errorf("a cancelled Create left %q (before %q)", after, before)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelReader cancels when read, then reads as empty.
type cancelReader struct{ cancel func() }

func (c cancelReader) Read([]byte) (int, error) { c.cancel(); return 0, io.EOF }
