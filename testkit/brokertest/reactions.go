package brokertest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
)

// reactionsOf renders m's reactions as "👍 ann,bob; ❤️ bob": what a page
// would count, in order.
func reactionsOf(m realtime.Message) string {
	var s string
	for i, r := range m.Reactions {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprint(r.Emoji, " ")
		for j, n := range r.Names {
			if j > 0 {
				s += ","
			}
			s += n
		}
		if len(r.Authors) != len(r.Names) {
			s += fmt.Sprintf(" (%d authors for %d names)", len(r.Authors), len(r.Names))
		}
	}
	return s
}

// reacts: reactions toggle per person, travel to every instance, stay in
// the history, stop at MaxReactionsPerPerson and go with a deletion.
func reacts(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	room := testkit.Room()
	if err := other.Subscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	m, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Text: "lunch?", Author: "sess-ann", Time: time.Now().UTC()}, "")
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, other)
	react := func(on realtime.Broker, who, emoji, want string) {
		t.Helper()
		got, _, err := on.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-" + who, Name: who, React: emoji}, "")
		if err != nil {
			t.Fatalf("%s reacts %s: %v", who, emoji, err)
		}
		if reactionsOf(got) != want || got.Text != "lunch?" || !got.Edited.IsZero() {
			t.Fatalf("%s reacts %s: %q %+v, want %q, the text and no edit", who, emoji, reactionsOf(got), got, want)
		}
		if ev := nextEvent(t, ctx, other); ev.Kind != realtime.KindChanged || reactionsOf(ev.Message) != want {
			t.Fatalf("event after %s reacts %s: %+v, want %q", who, emoji, ev, want)
		}
	}
	react(b, "ann", "👍", "👍 ann")
	react(other, "bob", "👍", "👍 ann,bob")
	react(b, "bob", "❤️", "👍 ann,bob; ❤️ bob")
	react(b, "ann", "👍", "👍 bob; ❤️ bob")
	react(other, "bob", "👍", "❤️ bob")
	react(b, "ann", "👍", "❤️ bob; 👍 ann")
	hist, err := other.History(ctx, room)
	if err != nil || len(hist) != 1 || reactionsOf(hist[0]) != "❤️ bob; 👍 ann" {
		t.Fatalf("history = %+v err %v, want the reactions kept", hist, err)
	}
	// A repeated reaction (one guard) counts once: it would take it back.
	for range 2 {
		if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-cat", Name: "cat", React: "🎉"}, "sess-cat:r1"); err != nil {
			t.Fatal(err)
		}
	}
	nextEvent(t, ctx, other)
	if hist, _ := b.History(ctx, room); reactionsOf(hist[0]) != "❤️ bob; 👍 ann; 🎉 cat" {
		t.Fatalf("after a repeated reaction: %q", reactionsOf(hist[0]))
	}

	// Twenty distinct emoji each, no more; taking one back makes room.
	emoji := []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "😚", "🙂", "🤗", "🤩"}
	for _, e := range emoji[:realtime.MaxReactionsPerPerson-1] {
		if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-dan", Name: "dan", React: e}, ""); err != nil {
			t.Fatalf("dan reacts %s: %v", e, err)
		}
		nextEvent(t, ctx, other)
	}
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-dan", Name: "dan", React: "👍"}, ""); err != nil {
		t.Fatalf("dan's 20th reaction: %v", err)
	}
	nextEvent(t, ctx, other)
	before, _ := b.History(ctx, room)
	if _, _, err := other.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-dan", Name: "dan", React: emoji[len(emoji)-1]}, ""); !errors.Is(err, realtime.ErrTooManyReactions) {
		t.Fatalf("dan's 21st distinct reaction: %v, want ErrTooManyReactions", err)
	}
	if after, _ := b.History(ctx, room); reactionsOf(after[0]) != reactionsOf(before[0]) {
		t.Fatalf("a refused reaction changed the message: %q, was %q", reactionsOf(after[0]), reactionsOf(before[0]))
	}
	react(b, "dan", "👍", reactionsOf(before[0])[:0]+strippedOf(before[0], "dan", "👍"))
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-dan", Name: "dan", React: emoji[len(emoji)-1]}, ""); err != nil {
		t.Fatalf("dan's 20th again, after taking one back: %v", err)
	}
	nextEvent(t, ctx, other)

	// A deletion takes the reactions with the text; nobody reacts to it.
	gone, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-ann", Delete: true}, "")
	if err != nil || gone.Reactions != nil {
		t.Fatalf("delete: %+v err %v, want no reactions", gone, err)
	}
	nextEvent(t, ctx, other)
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-bob", Name: "bob", React: "👍"}, ""); !errors.Is(err, realtime.ErrNoMessage) {
		t.Fatalf("a reaction to a deleted message: %v, want ErrNoMessage", err)
	}
	if hist, _ := other.History(ctx, room); hist[0].Reactions != nil {
		t.Fatalf("a deleted message keeps reactions: %+v", hist[0])
	}
}

// strippedOf is m's reactions rendered as reactionsOf would after who takes
// emoji back.
func strippedOf(m realtime.Message, who, emoji string) string {
	var rs []realtime.Reaction
	for _, r := range m.Reactions {
		if r.Emoji == emoji {
			if i := slices.Index(r.Names, who); i >= 0 {
				r.Names = slices.Delete(slices.Clone(r.Names), i, i+1)
				r.Authors = slices.Delete(slices.Clone(r.Authors), i, i+1)
			}
			if len(r.Names) == 0 {
				continue
			}
		}
		rs = append(rs, r)
	}
	return reactionsOf(realtime.Message{Reactions: rs})
}

// replies: a reply keeps what it answers and its quote, which follows an
// edit and a deletion of the original.
func replies(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	room := testkit.Room()
	if err := other.Subscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	q, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Text: "who brings the cake?", Author: "sess-ann", Time: time.Now().UTC()}, "")
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, other)
	quote := realtime.QuoteOf(q)
	r, _, err := other.Send(ctx, room, realtime.Message{Name: "bob", Text: "I do", Author: "sess-bob", Time: time.Now().UTC(), ReplyTo: q.Seq, Quote: &quote}, "")
	if err != nil || r.ReplyTo != q.Seq {
		t.Fatalf("reply: %+v err %v", r, err)
	}
	if ev := nextEvent(t, ctx, other); ev.Message.ReplyTo != q.Seq || ev.Message.Quote == nil || *ev.Message.Quote != quote {
		t.Fatalf("reply event = %+v, want reply_to %d and quote %+v", ev, q.Seq, quote)
	}
	check := func(want realtime.Quote) {
		t.Helper()
		hist, err := other.History(ctx, room)
		if err != nil || len(hist) != 2 || hist[1].ReplyTo != q.Seq || hist[1].Quote == nil || *hist[1].Quote != want || hist[1].Text != "I do" {
			t.Fatalf("history = %+v err %v, want the reply quoting %+v", hist, err, want)
		}
	}
	check(quote)
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: q.Seq, Author: "sess-ann", Text: "who brings the pie?", Time: time.Now()}, ""); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, other)
	check(realtime.Quote{Name: "ann", Text: "who brings the pie?"})
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: q.Seq, Author: "sess-ann", Delete: true}, ""); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, other)
	check(realtime.Quote{Name: "ann", Deleted: realtime.DeletedByAuthor})
}

// attachments: a message's files travel to every instance and stay in
// the history through an edit and a reaction, and go with a deletion.
func attachments(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	room := testkit.Room()
	if err := other.Subscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	files := []realtime.Attachment{
		{ID: "AAAAAAAAAAAAAAAAAAAAAAAAAA", Name: "screen shot.png", Type: "image/png", Size: 48213, Image: true, Width: 400, Height: 225},
		{ID: "BBBBBBBBBBBBBBBBBBBBBBBBBB", Name: "agenda <v2>.pdf", Type: "application/pdf", Size: 10 << 20},
	}
	m, _, err := b.Send(ctx, room, realtime.Message{Name: "ann", Author: "sess-ann", Time: time.Now().UTC(), Files: files}, "")
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ctx, other); !slices.Equal(ev.Message.Files, files) {
		t.Fatalf("event files = %+v, want %+v", ev.Message.Files, files)
	}
	check := func(want []realtime.Attachment) {
		t.Helper()
		hist, err := other.History(ctx, room)
		if err != nil || len(hist) != 1 || !slices.Equal(hist[0].Files, want) {
			t.Fatalf("history = %+v err %v, want files %+v", hist, err, want)
		}
	}
	check(files)
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-bob", Name: "bob", React: "👍"}, ""); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, other)
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-ann", Text: "the agenda", Time: time.Now()}, ""); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ctx, other); !slices.Equal(ev.Message.Files, files) {
		t.Fatalf("edited event files = %+v, want %+v", ev.Message.Files, files)
	}
	check(files)
	if _, _, err := b.Change(ctx, room, realtime.Change{Seq: m.Seq, Author: "sess-ann", Delete: true}, ""); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ctx, other); len(ev.Message.Files) != 0 {
		t.Fatalf("deleted event files = %+v, want none", ev.Message.Files)
	}
	check(nil)
}
