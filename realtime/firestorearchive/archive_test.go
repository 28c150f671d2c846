package firestorearchive_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/testkit/firestoretest"
)

// client is a Firestore client on the emulator, for a project of the
// test's own.
func client(t *testing.T) (*firestore.Client, string) {
	t.Helper()
	t.Setenv("FIRESTORE_EMULATOR_HOST", firestoretest.Host(t))
	project := firestoretest.Project()
	c, err := firestore.NewClient(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, project
}

func messages(from, to int64) []realtime.Message {
	var msgs []realtime.Message
	for s := from; s <= to; s++ {
		msgs = append(msgs, realtime.Message{Seq: s, Name: "ann", Text: fmt.Sprint("text ", s), Time: time.Unix(1_700_000_000+s, 0).UTC(), Verified: s%2 == 0})
	}
	return msgs
}

// Stored twice, a message is there once; scrolling back walks the room to
// its first message, each once, oldest first in every page.
func TestArchiveStoresOnceAndScrollsBack(t *testing.T) {
	c, _ := client(t)
	a := firestorearchive.New(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const room = "r"
	if err := a.Store(ctx, room, messages(1, 50)); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(ctx, room, messages(40, 75)); err != nil { // 40..50 again
		t.Fatal(err)
	}
	latest, err := a.Latest(ctx, room, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 20 || latest[0].Seq != 56 || latest[19].Seq != 75 || latest[19].Text != "text 75" {
		t.Fatalf("latest 20: %d, from %v", len(latest), latest)
	}
	if !latest[18].Verified || latest[19].Verified {
		t.Errorf("verified senders read back as %v (74) and %v (75); want true and false", latest[18].Verified, latest[19].Verified)
	}
	var seen []int64
	before, more := latest[0].Seq, true
	for more {
		var page []realtime.Message
		page, more, err = a.Before(ctx, room, before, 20)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range page {
			if i > 0 && m.Seq != page[i-1].Seq+1 {
				t.Fatalf("a page out of order: %v", page)
			}
		}
		seen = append(page2seqs(page), seen...)
		before = page[0].Seq
	}
	if len(seen) != 55 || seen[0] != 1 || seen[54] != 55 {
		t.Fatalf("walked back %d messages, from %v to %v; want 1..55", len(seen), seen[0], seen[len(seen)-1])
	}
	if page, more, err := a.Before(ctx, room, 1, 20); err != nil || len(page) != 0 || more {
		t.Fatalf("before the first: %v %v %v", page, more, err)
	}
	if page, _, err := a.Before(ctx, "elsewhere", 100, 20); err != nil || len(page) != 0 {
		t.Fatalf("another room: %v %v", page, err)
	}
}

func page2seqs(msgs []realtime.Message) []int64 {
	seqs := make([]int64, len(msgs))
	for i, m := range msgs {
		seqs[i] = m.Seq
	}
	return seqs
}

// With a retention, every message carries the expiry a TTL policy reads.
func TestArchiveRetentionSetsExpireAt(t *testing.T) {
	c, _ := client(t)
	a := firestorearchive.New(c, firestorearchive.WithRetention(90*24*time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs := messages(1, 1)
	if err := a.Store(ctx, "r", msgs); err != nil {
		t.Fatal(err)
	}
	snap, err := c.Collection("rooms").Doc("r").Collection("messages").Doc("000000000001").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := snap.DataAt("expireAt")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := exp.(time.Time), msgs[0].Time.Add(90*24*time.Hour); !got.Equal(want) {
		t.Fatalf("expireAt %v, want %v", got, want)
	}
}

// A message's attachments come back from the archive as they were stored.
func TestArchiveKeepsAttachments(t *testing.T) {
	c, _ := client(t)
	a := firestorearchive.New(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	files := []realtime.Attachment{
		{ID: "AAAAAAAAAAAAAAAAAAAAAAAAAA", Name: "whiteboard.jpg", Type: "image/jpeg", Size: 2_345_678, Image: true, Width: 400, Height: 300},
		{ID: "BBBBBBBBBBBBBBBBBBBBBBBBBB", Name: "agenda.pdf", Type: "application/pdf", Size: 12_345},
	}
	m := realtime.Message{Seq: 1, Name: "ann", Time: time.Unix(1_700_000_000, 0).UTC(), Files: files}
	if err := a.Store(ctx, "r", []realtime.Message{m}); err != nil {
		t.Fatal(err)
	}
	got, err := a.Latest(ctx, "r", 10)
	if err != nil || len(got) != 1 || !slices.Equal(got[0].Files, files) {
		t.Fatalf("read back %+v err %v, want files %+v", got, err, files)
	}
}
