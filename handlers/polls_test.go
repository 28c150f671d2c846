package handlers

import (
	"testing"
	"time"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/views"
)

// A rendering of the directory is kept per language and room, and all go
// when the directory lists anything else.
func TestDirectoryFragmentsKeyedAndDropped(t *testing.T) {
	var d directoryFragments
	rooms := []views.RoomCount{{Room: "a", Members: 2}, {Room: "b", Members: 1}}
	en := directoryKey{lang: i18n.English, current: "a"}
	zh := directoryKey{lang: i18n.TraditionalChinese, current: "a"}
	if _, ok := d.get(rooms, en); ok {
		t.Fatal("a rendering kept before any was made")
	}
	d.put(rooms, en, []byte("en-a"))
	d.put(rooms, zh, []byte("zh-a"))
	if b, ok := d.get(rooms, en); !ok || string(b) != "en-a" {
		t.Errorf("en: %q %v", b, ok)
	}
	if b, ok := d.get(rooms, zh); !ok || string(b) != "zh-a" {
		t.Errorf("zh: %q %v", b, ok)
	}
	if _, ok := d.get(rooms, directoryKey{lang: i18n.English, current: "b"}); ok {
		t.Error("a rendering for another room")
	}
	moved := []views.RoomCount{{Room: "a", Members: 3}, {Room: "b", Members: 1}}
	if _, ok := d.get(moved, en); ok {
		t.Error("a rendering of an older directory")
	}
	d.put(moved, en, []byte("en-a3"))
	if _, ok := d.get(moved, zh); ok {
		t.Error("the older directory's Chinese rendering kept")
	}
}

// A poll trusts a session found not signed out for pollTrust, never one
// marked signed out since, and a read begun before the mark does not
// undo it.
func TestGenerationsTrust(t *testing.T) {
	var g generations
	now := time.Now()
	if g.trusted("s", 0, now) {
		t.Fatal("trusted before any read")
	}
	g.found("s", 2, now)
	if !g.trusted("s", 2, now.Add(time.Second)) {
		t.Error("not trusted after a read")
	}
	if g.trusted("s", 1, now) {
		t.Error("a cookie older than the stored generation trusted")
	}
	if g.trusted("s", 2, now.Add(pollTrust)) {
		t.Error("trusted after pollTrust")
	}
	g.signedOut("s", now.Add(time.Second))
	g.found("s", 2, now) // a read begun before the sign-out, answered after
	if g.trusted("s", 2, now.Add(2*time.Second)) {
		t.Error("trusted after the sign-out")
	}
	g.found("s", 3, now.Add(time.Second+pollTrust)) // signed in again, later
	if !g.trusted("s", 3, now.Add(2*time.Second+pollTrust)) {
		t.Error("a later session not trusted")
	}
	// Sign-outs may have been lost: none is trusted until read again.
	g.forgetAll()
	if g.trusted("s", 3, now.Add(2*time.Second+pollTrust)) {
		t.Error("trusted after forgetting all")
	}
}
