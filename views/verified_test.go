package views

import (
	"context"
	"strings"
	"testing"
	"time"
)

const mark = `<span class="verified" title="Verified: signed in with the identity provider"><span aria-hidden="true">✓</span><span class="visually-hidden"> (verified)</span></span>`

// The verified mark follows a verified name, in the member list and in a
// message; nothing else changes, and an unverified name has none.
func TestVerifiedMarks(t *testing.T) {
	var b strings.Builder
	ctx := context.Background()
	if err := MemberList([]string{"Ann", "Bob"}, false, false, MemberTools{}).Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, `<li data-name="Ann">Ann</li><li data-name="Bob">Bob</li>`) || strings.Contains(got, "verified") {
		t.Errorf("unverified members: %s", got)
	}
	b.Reset()
	if err := MemberList([]string{"Ann"}, false, true, MemberTools{}).Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, `<li data-name="Ann">Ann`+mark+`</li>`) {
		t.Errorf("verified members: %s", got)
	}
	for _, verified := range []bool{false, true} {
		b.Reset()
		m := Message{Seq: 1, Name: "Ann", Text: "hi", Time: time.Unix(0, 0), Verified: verified}
		if err := MessageItem(m, false).Render(ctx, &b); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		if has := strings.Contains(got, `<span class="from" dir="auto">Ann</span>`+mark) || strings.Contains(got, `<span class="from" dir="auto">Ann</span> `+mark); has != verified {
			t.Errorf("a message, verified %v: %s", verified, got)
		}
	}
}
