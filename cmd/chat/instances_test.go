package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

var msgIDs = regexp.MustCompile(`<li id="msg-(\d+)"`)

func idsIn(html string) []string {
	var ids []string
	for _, m := range msgIDs.FindAllStringSubmatch(html, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// Two instances on one Redis deliver both ways over real WebSockets, and a
// third shows the same history with the same ids.
func TestInstancesShareRoomsThroughRedis(t *testing.T) {
	forEachStore(t, testInstancesShareRoomsThroughRedis)
}

func testInstancesShareRoomsThroughRedis(t *testing.T, st store) {
	env := st.shared()
	a, b, c := startInstance(t, env), startInstance(t, env), startInstance(t, env)
	room := testkit.Room()

	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	bob := chattest.NewUser(t, b.URL)
	bob.SignIn("Bob", room)

	annWS := ann.Dial(room)
	if f := annWS.Next(); !strings.Contains(f, `id="messages" hx-swap-oob="innerMorph"`) {
		t.Fatalf("first frame is not the history: %s", f)
	}
	bobWS := bob.Dial(room)
	if f := bobWS.Next(); !strings.Contains(f, `id="messages"`) {
		t.Fatalf("first frame is not the history: %s", f)
	}
	annWS.Until("Bob entered the room.")

	annWS.Send("hello from a", "n1")
	// The sender also gets a reply that names the message by its nonce and
	// says its seq; the form, and what is typed in it, is left alone.
	got := annWS.UntilAll(`id="msg-1"`, `data-outcome="sent"`)
	if f := got[`data-outcome="sent"`]; !strings.Contains(f, `<template hx-swap-oob="beforeend:#signals"><p data-signal="reply" data-nonce="n1" data-outcome="sent" data-seq="1"></p></template>`) || strings.Contains(f, `<form`) {
		t.Fatalf("reply to the sender: %s", f)
	}
	for _, f := range []string{got[`id="msg-1"`], bobWS.Until(`id="msg-1"`)} {
		if !strings.Contains(f, "hello from a") || !strings.Contains(f, `<template hx-swap-oob="beforeend:#messages">`) {
			t.Fatalf("message frame: %s", f)
		}
	}
	bobWS.Send("hi from b", "n1")
	for _, s := range []*chattest.Socket{annWS, bobWS} {
		if f := s.Until(`id="msg-2"`); !strings.Contains(f, "hi from b") {
			t.Fatalf("message frame: %s", f)
		}
	}

	carol := chattest.NewUser(t, c.URL)
	carol.SignIn("Carol", room)
	resp, page := carol.Get("/rooms/" + room)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("room page on the third instance: %d", resp.StatusCode)
	}
	if got := strings.Join(idsIn(page), ","); got != "1,2" {
		t.Fatalf("history on the third instance has ids %q, want 1,2 oldest first", got)
	}
	if strings.Index(page, "hello from a") > strings.Index(page, "hi from b") {
		t.Fatal("history is not oldest first")
	}
	// A form posted twice (a double click, a resubmit), on two instances,
	// is stored once.
	for _, u := range []*chattest.User{carol, carol.On(a.URL)} {
		resp := u.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"posted twice"}, "nonce": {"c1"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("no-JS post: %d, want 303", resp.StatusCode)
		}
	}
	if _, page := carol.Get("/rooms/" + room); strings.Join(idsIn(page), ",") != "1,2,3" {
		t.Fatalf("after a form posted twice the history has ids %q, want 1,2,3", strings.Join(idsIn(page), ","))
	}
}

// The same flow on the in-memory default, one instance.
func TestSingleInstanceInMemory(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	if !strings.Contains(inst.Logs()[0], "in-memory broker") {
		t.Fatalf("first log line does not say the broker is in memory: %s", inst.Logs()[0])
	}
	room := testkit.Room()
	_, annWS := chattest.JoinAs(t, inst.URL, "Ann", room)
	_, bobWS := chattest.JoinAs(t, inst.URL, "Bob", room)
	bobWS.Send("one", "x")
	annWS.Until(`id="msg-1"`)
	bobWS.Until(`id="msg-1"`)

	// Rooms are isolated: a message elsewhere reaches neither.
	other := testkit.Room()
	carol := chattest.NewUser(t, inst.URL)
	carol.SignIn("Carol", other)
	carolWS := carol.Dial(other)
	carolWS.Next()
	carolWS.Send("elsewhere", "y")
	carolWS.Until(`id="msg-1"`)
	bobWS.Send("two", "z")
	if f := annWS.Until(`id="msg-`); !strings.Contains(f, `id="msg-2"`) || strings.Contains(f, "elsewhere") {
		t.Fatalf("ann got %s, want only her room's msg-2", f)
	}
}

// On shutdown every socket gets 1012 and run returns well within Cloud
// Run's 10 s.
func TestShutdownClosesSocketsWith1012(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	var socks []*chattest.Socket
	for range 3 {
		s := ann.Dial(room)
		s.Next()
		socks = append(socks, s)
	}
	took := make(chan int64, 1)
	go func() { took <- inst.stop().Milliseconds() }()
	for _, s := range socks {
		if code := s.CloseStatus(); code != websocket.StatusServiceRestart {
			t.Fatalf("socket closed with %v, want 1012", code)
		}
	}
	if ms := <-took; ms > 8000 {
		t.Fatalf("shutdown took %d ms, want under 8000", ms)
	}
}
