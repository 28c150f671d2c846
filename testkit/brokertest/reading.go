package brokertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
)

// RunReading runs the realtime.Reading contract on brokers from f: read
// marks only rise and stop at the room's newest message, every instance
// sees a person's rooms alike (a message stored elsewhere within a couple
// of seconds), mentions count as the pages mark them, and
// Arrived tells whom to push to by level, focus and sender.
// Each runs twice: with messages sent as the handlers send them
// (SendCounted), and sent, then counted apart (Send, then Arrived).
func RunReading(t *testing.T, f Factory) {
	for _, how := range []sending{counted, apart} {
		t.Run(how.String(), func(t *testing.T) {
			t.Run("MarksAndLists", func(t *testing.T) { marksAndLists(t, f, how) })
			t.Run("CountsMentions", func(t *testing.T) { countsMentions(t, f, how) })
			t.Run("TellsWhomToPush", func(t *testing.T) { tellsWhomToPush(t, f, how) })
		})
	}
}

// sending is how a test stores a message and has it counted for the
// readers.
type sending bool

const (
	counted sending = true  // SendCounted, as the handlers do
	apart   sending = false // Send, then Arrived
)

func (s sending) String() string {
	if s == counted {
		return "SendCounted"
	}
	return "SendThenArrived"
}

// person is a person id no other test uses.
func person(who string) string { return "s:" + who + "-" + testkit.Room() }

// standing renders person's rooms as "room read/newest unread @mentions
// level", in ReadingOf's order.
func standing(t *testing.T, b realtime.Broker, person string) []string {
	t.Helper()
	rooms, err := b.ReadingOf(Context(t), person)
	if err != nil {
		t.Fatalf("ReadingOf: %v", err)
	}
	var out []string
	for _, r := range rooms {
		out = append(out, fmt.Sprintf("%s %d/%d %d @%d %s", r.Room, r.Read, r.Newest, r.Unread, r.Mentions, r.Level))
	}
	return out
}

// wantStanding waits until every instance lists person's rooms as want.
// An instance may count a message stored elsewhere up to a couple of
// seconds late (a room's newest seq is kept that long); what the person
// read, their levels and mentions show at once.
func wantStanding(t *testing.T, bs []realtime.Broker, person string, want ...string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i, b := range bs {
		deadline := time.After(5 * time.Second)
		for got := standing(t, b, person); !slices.Equal(got, want); got = standing(t, b, person) {
			select {
			case <-deadline:
				t.Fatalf("instance %d: ReadingOf = %q, want %q", i, got, want)
			case <-tick.C:
			}
		}
	}
}

// standsNow checks that every instance lists person's rooms as want at
// once: after a change to what they read, their levels or mentions, which
// no instance may keep an old copy of.
func standsNow(t *testing.T, bs []realtime.Broker, person string, want ...string) {
	t.Helper()
	for i, b := range bs {
		if got := standing(t, b, person); !slices.Equal(got, want) {
			t.Fatalf("instance %d: ReadingOf = %q at once, want %q", i, got, want)
		}
	}
}

// sendAt stores a message in room and has it counted for the readers,
// as how says; it returns whom to push to.
func sendAt(t *testing.T, how sending, b realtime.Broker, room, name, sender, text string, at time.Time) (realtime.Message, []string) {
	t.Helper()
	ctx := Context(t)
	if how == counted {
		m, dup, notify, err := b.SendCounted(ctx, room, realtime.Message{Name: name, Text: text, Time: at}, "", sender)
		if err != nil || dup {
			t.Fatalf("SendCounted: dup %v, %v", dup, err)
		}
		return m, notify
	}
	m, _, err := b.Send(ctx, room, realtime.Message{Name: name, Text: text, Time: at}, "")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	notify, err := b.Arrived(ctx, room, m, sender)
	if err != nil {
		t.Fatalf("Arrived: %v", err)
	}
	return m, notify
}

func marksAndLists(t *testing.T, f Factory, how sending) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	both := []realtime.Broker{b, other}
	ann := person("ann")
	wantStanding(t, both, ann) // nothing yet
	a, c := testkit.Room(), testkit.Room()
	now := time.Now().UTC()
	for i := range 3 {
		sendAt(t, how, b, a, "bob", "s:bob", fmt.Sprint("a", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	// Read past the newest: stops at it.
	if err := b.MarkRead(ctx, a, ann, "ann", 99); err != nil {
		t.Fatal(err)
	}
	wantStanding(t, both, ann, a+" 3/3 0 @0 mentions")
	sendAt(t, how, other, a, "bob", "s:bob", "a3", now.Add(time.Second))
	sendAt(t, how, other, a, "bob", "s:bob", "a4", now.Add(time.Second))
	wantStanding(t, both, ann, a+" 3/5 2 @0 mentions")
	// A lower mark (a page behind) lowers nothing.
	if err := other.MarkRead(ctx, a, ann, "", 1); err != nil {
		t.Fatal(err)
	}
	wantStanding(t, both, ann, a+" 3/5 2 @0 mentions")
	if err := other.MarkRead(ctx, a, ann, "", 4); err != nil {
		t.Fatal(err)
	}
	standsNow(t, both, ann, a+" 4/5 1 @0 mentions")
	// A room without messages yet, then with the newest activity: first.
	if err := other.SetLevel(ctx, c, ann, realtime.LevelAll); err != nil {
		t.Fatal(err)
	}
	if err := b.MarkRead(ctx, c, ann, "ann", 1); err != nil {
		t.Fatal(err)
	}
	sendAt(t, how, b, c, "bob", "s:bob", "c0", now.Add(time.Minute))
	wantStanding(t, both, ann, c+" 0/1 1 @0 all", a+" 4/5 1 @0 mentions")
	if err := b.SetLevel(ctx, c, ann, realtime.LevelNone); err != nil {
		t.Fatal(err)
	}
	standsNow(t, both, ann, c+" 0/1 1 @0 none", a+" 4/5 1 @0 mentions")
	// Someone else's list is theirs.
	wantStanding(t, both, person("ann"))
}

func countsMentions(t *testing.T, f Factory, how sending) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	both := []realtime.Broker{b, other}
	room := testkit.Room()
	ann, zh := person("ann"), person("zh")
	now := time.Now().UTC()
	sendAt(t, how, b, room, "bob", "s:bob", "hello", now)
	for _, p := range []struct{ who, name string }{{ann, "Ann Lee"}, {zh, "小明"}} {
		if err := b.MarkRead(ctx, room, p.who, p.name, 1); err != nil {
			t.Fatal(err)
		}
	}
	for i, text := range []string{
		"@ann lee, lunch?", // mentions Ann Lee, any case
		"@ANN LEE",         // at the end
		"@Ann Leek",        // a longer name: not her
		"@Ann Lee_2",       // "_" goes on a name
		"mail ann@Ann Lee", // "@" in a word counts, as on the page
		"@小明，你好",           // a full-width comma ends a name
		"@小明明",             // a longer name
	} {
		sendAt(t, how, other, room, "bob", "s:bob", text, now.Add(time.Duration(i+1)*time.Millisecond))
	}
	wantStanding(t, both, ann, room+" 1/8 7 @3 mentions")
	wantStanding(t, both, zh, room+" 1/8 7 @1 mentions")
	// Reading past some mentions forgets those.
	if err := other.MarkRead(ctx, room, ann, "", 3); err != nil {
		t.Fatal(err)
	}
	standsNow(t, both, ann, room+" 3/8 5 @1 mentions")
	// A mention counts under the name last used in the room.
	if err := other.MarkRead(ctx, room, ann, "Annie", 8); err != nil {
		t.Fatal(err)
	}
	standsNow(t, both, ann, room+" 8/8 0 @0 mentions")
	sendAt(t, how, b, room, "bob", "s:bob", "@Ann Lee?", now.Add(time.Second))
	sendAt(t, how, b, room, "bob", "s:bob", "@annie!", now.Add(time.Second))
	wantStanding(t, both, ann, room+" 8/10 2 @1 mentions")
	// One's own message never mentions oneself, and sending is reading:
	// the room is read up to it.
	sendAt(t, how, b, room, "Annie", ann, "@Annie here", now.Add(time.Second))
	wantStanding(t, both, ann, room+" 11/11 0 @0 mentions")
}

func tellsWhomToPush(t *testing.T, f Factory, how sending) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	room := testkit.Room()
	ann, bob, cat, dan := person("ann"), person("bob"), person("cat"), person("dan")
	now := time.Now().UTC()
	// Nobody has been in the room: nobody to tell.
	if _, got := sendAt(t, how, b, room, "eve", "s:eve", "@ann first", now); len(got) != 0 {
		t.Fatalf("Arrived in a room nobody read = %q, want nobody", got)
	}
	for who, name := range map[string]string{ann: "ann", bob: "bob", cat: "cat", dan: "dan"} {
		if err := b.MarkRead(ctx, room, who, name, 1); err != nil {
			t.Fatal(err)
		}
	}
	// ann: mentions (the default); bob: all; cat: none; dan: all.
	for who, l := range map[string]realtime.Level{bob: realtime.LevelAll, cat: realtime.LevelNone, dan: realtime.LevelAll} {
		if err := other.SetLevel(ctx, room, who, l); err != nil {
			t.Fatal(err)
		}
	}
	check := func(text, sender string, want ...string) {
		t.Helper()
		_, got := sendAt(t, how, other, room, "x", sender, text, time.Now())
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("Arrived(%q from %s) = %q, want %q", text, sender, got, want)
		}
	}
	check("hello", "s:eve", bob, dan)
	if how == counted {
		// A repeated guard stores nothing again and tells nobody again,
		// on any instance.
		once := realtime.Message{Name: "x", Text: "once", Time: time.Now()}
		first, dup, got, err := other.SendCounted(ctx, room, once, "eve:n1", "s:eve")
		if err != nil || dup || !slices.Equal(got, []string{bob, dan}) {
			t.Fatalf("SendCounted = dup %v, tell %q, %v; want a message stored, bob and dan told", dup, got, err)
		}
		again, dup, got, err := b.SendCounted(ctx, room, once, "eve:n1", "s:eve")
		if err != nil || !dup || again.Seq != first.Seq || len(got) != 0 {
			t.Fatalf("SendCounted again = seq %d dup %v, tell %q, %v; want seq %d dup, nobody told", again.Seq, dup, got, err, first.Seq)
		}
	}
	check("@ann @cat hello", "s:eve", ann, bob, dan) // cat is at "none"
	check("@ann from dan", dan, ann, bob)            // never the sender
	// A focused page spares its person the push, on every instance, for
	// its ttl.
	if err := b.Focus(ctx, room, bob, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := other.Focus(ctx, room, ann, time.Minute); err != nil {
		t.Fatal(err)
	}
	check("@ann @bob", "s:eve", dan)
	// A focus that lapses spares nothing any more.
	if err := other.Focus(ctx, room, ann, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, got := sendAt(t, how, b, room, "x", "s:eve", "@ann again", time.Now())
		if slices.Contains(got, ann) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Arrived after ann's focus lapsed = %q, want ann told", got)
		}
	}
	// Focus elsewhere spares nothing here.
	if err := b.Focus(ctx, testkit.Room(), dan, time.Minute); err != nil {
		t.Fatal(err)
	}
	check("hi", "s:eve", dan)
	// A focused page's report of what it read, in one call where the
	// broker offers it: the mark holds on every instance, and the focus
	// spares the push.
	if rf, ok := b.(realtime.ReadFocused); ok {
		m, _ := sendAt(t, how, other, room, "x", "s:eve", "hello dan", time.Now())
		if err := rf.MarkReadFocused(ctx, room, dan, "dan", m.Seq, time.Minute); err != nil {
			t.Fatal(err)
		}
		check("@dan hi", "s:eve") // bob is focused too
		seq := m.Seq + 1          // the message just checked
		want := fmt.Sprintf("%s %d/%d 1 @1 all", room, m.Seq, seq)
		wantStanding(t, []realtime.Broker{b, other}, dan, want)
	}
}
