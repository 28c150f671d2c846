package realtime_test

import (
	"context"
	"fmt"
	"html"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/testkit/firestoretest"
)

// countingArchive counts the pages read from the archive it wraps (the
// real one, on the emulator).
type countingArchive struct {
	realtime.Archive
	reads atomic.Int64
}

func (c *countingArchive) Before(ctx context.Context, room string, before int64, limit int) ([]realtime.Message, bool, error) {
	c.reads.Add(1)
	return c.Archive.Before(ctx, room, before, limit)
}

func archived(from, to int64) []realtime.Message {
	var msgs []realtime.Message
	for s := from; s <= to; s++ {
		msgs = append(msgs, realtime.Message{Seq: s, Name: "ann", Text: fmt.Sprint("text ", s), Time: time.Unix(1_700_000_000+s, 0).UTC()})
	}
	return msgs
}

func seqsOf(msgs []realtime.Message) []int64 {
	var s []int64
	for _, m := range msgs {
		s = append(s, m.Seq)
	}
	return s
}

// A page of scrollback read from Firestore is read once: the same page
// again, for any reader, comes from the cache. A page that can still
// change (past the newest message, or with a hole the archive has not
// filled yet) is read each time; Forget makes a room's pages read again.
func TestPageCacheReadsAnArchivedPageOnce(t *testing.T) {
	t.Setenv("FIRESTORE_EMULATOR_HOST", firestoretest.Host(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := firestore.NewClient(ctx, firestoretest.Project())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	archive := &countingArchive{Archive: firestorearchive.New(client)}
	if err := archive.Store(ctx, "whole", archived(1, 75)); err != nil {
		t.Fatal(err)
	}
	if err := archive.Store(ctx, "holed", append(archived(1, 30), archived(40, 75)...)); err != nil {
		t.Fatal(err)
	}
	cache := realtime.NewPageCache(archive.Before, 100, 1<<20, time.Hour)
	read := func(room string, before int64) ([]int64, bool) {
		t.Helper()
		msgs, more, err := cache.Before(ctx, room, before, 20)
		if err != nil {
			t.Fatal(err)
		}
		return seqsOf(msgs), more
	}
	check := func(what string, want int64) {
		t.Helper()
		if got := archive.reads.Swap(0); got != want {
			t.Errorf("%s: %d reads of Firestore, want %d", what, got, want)
		}
	}

	for range 5 {
		if seqs, more := read("whole", 56); !slices.Equal(seqs, seqsOf(archived(36, 55))) || !more {
			t.Fatalf("page before 56: %v (more %v)", seqs, more)
		}
	}
	check("the same page 5 times", 1)
	for range 3 {
		if seqs, more := read("whole", 16); !slices.Equal(seqs, seqsOf(archived(1, 15))) || more {
			t.Fatalf("the first page: %v (more %v)", seqs, more)
		}
	}
	check("the room's first page 3 times", 1)

	read("whole", 1000)
	read("whole", 1000)
	check("a page past the newest message, twice", 2)
	read("holed", 41)
	read("holed", 41)
	check("a page with a hole, twice", 2)

	cache.Forget("whole")
	read("whole", 56)
	read("whole", 56)
	check("the page again after Forget", 1)
}

// A page is cut to the newest messages that fit the room page's bound
// (128 KiB of escaped names and texts), with more set: 100 messages of
// 2,000 "<" come back a few at a time, and paging back reaches each once.
// The cache keeps at most its entries and bytes.
func TestPageCacheBoundsPagesAndItself(t *testing.T) {
	ctx := context.Background()
	b := realtime.NewMemoryBroker(100)
	defer b.Close()
	for range 100 {
		if _, _, err := b.Send(ctx, "big", realtime.Message{Name: "ann", Text: strings.Repeat("<", 2000)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	cache := realtime.NewPageCache(b.Before, 4, 64<<10, time.Hour)
	var seen []int64
	for before := int64(101); before > 0; {
		msgs, more, err := cache.Before(ctx, "big", before, 100)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, m := range msgs {
			size += len(html.EscapeString(m.Name)) + len(html.EscapeString(m.Text))
		}
		if len(msgs) == 0 || size > 128<<10 {
			t.Fatalf("page before %d: %d messages, %d bytes escaped", before, len(msgs), size)
		}
		seen = append(seqsOf(msgs), seen...)
		if entries, bytes := cache.Size(); entries > 4 || bytes > 64<<10 {
			t.Fatalf("the cache holds %d pages, %d bytes; bounds 4 and 64 KiB", entries, bytes)
		}
		if !more {
			break
		}
		before = msgs[0].Seq
	}
	want := make([]int64, 100)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("paging back saw %v, want 1..100 once each", seen)
	}
	// Small pages are kept, up to the bound in entries.
	for i := range 50 {
		if _, _, err := b.Send(ctx, fmt.Sprint("small", i), realtime.Message{Name: "ann", Text: "hi"}, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Send(ctx, fmt.Sprint("small", i), realtime.Message{Name: "ann", Text: "hi"}, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cache.Before(ctx, fmt.Sprint("small", i), 2, 10); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := cache.Size(); entries != 4 {
		t.Fatalf("after 50 small pages the cache holds %d, want its bound, 4", entries)
	}
}
