package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coder/websocket"
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
	room := uniqueRoom()

	ann := newUser(t, a.URL)
	ann.signIn("Ann", room)
	bob := newUser(t, b.URL)
	bob.signIn("Bob", room)

	annWS := ann.dial(room)
	if f := annWS.next(); !strings.Contains(f, `id="messages" hx-swap-oob="innerMorph"`) {
		t.Fatalf("first frame is not the history: %s", f)
	}
	bobWS := bob.dial(room)
	if f := bobWS.next(); !strings.Contains(f, `id="messages"`) {
		t.Fatalf("first frame is not the history: %s", f)
	}
	annWS.until("Bob entered the room.")

	annWS.send("hello from a", "n1")
	// The sender also gets a reply that names the message by its nonce and
	// says its seq; the form, and what is typed in it, is left alone.
	got := annWS.untilAll(`id="msg-1"`, `data-outcome="sent"`)
	if f := got[`data-outcome="sent"`]; !strings.Contains(f, `<template hx-swap-oob="beforeend:#signals"><p data-signal="reply" data-nonce="n1" data-outcome="sent" data-seq="1"></p></template>`) || strings.Contains(f, `<form`) {
		t.Fatalf("reply to the sender: %s", f)
	}
	for _, f := range []string{got[`id="msg-1"`], bobWS.until(`id="msg-1"`)} {
		if !strings.Contains(f, "hello from a") || !strings.Contains(f, `<template hx-swap-oob="beforeend:#messages">`) {
			t.Fatalf("message frame: %s", f)
		}
	}
	bobWS.send("hi from b", "n1")
	for _, s := range []*socket{annWS, bobWS} {
		if f := s.until(`id="msg-2"`); !strings.Contains(f, "hi from b") {
			t.Fatalf("message frame: %s", f)
		}
	}

	carol := newUser(t, c.URL)
	carol.signIn("Carol", room)
	resp, page := carol.get("/rooms/" + room)
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
	for _, u := range []*user{carol, carol.on(a.URL)} {
		resp := u.postForm("/rooms/"+room+"/messages", url.Values{"text": {"posted twice"}, "nonce": {"c1"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("no-JS post: %d, want 303", resp.StatusCode)
		}
	}
	if _, page := carol.get("/rooms/" + room); strings.Join(idsIn(page), ",") != "1,2,3" {
		t.Fatalf("after a form posted twice the history has ids %q, want 1,2,3", strings.Join(idsIn(page), ","))
	}
}

// The same flow on the in-memory default, one instance.
func TestSingleInstanceInMemory(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	if !strings.Contains(inst.Logs()[0], "in-memory broker") {
		t.Fatalf("first log line does not say the broker is in memory: %s", inst.Logs()[0])
	}
	room := uniqueRoom()
	_, annWS := joinAs(t, inst.URL, "Ann", room)
	_, bobWS := joinAs(t, inst.URL, "Bob", room)
	bobWS.send("one", "x")
	annWS.until(`id="msg-1"`)
	bobWS.until(`id="msg-1"`)

	// Rooms are isolated: a message elsewhere reaches neither.
	other := uniqueRoom()
	carol := newUser(t, inst.URL)
	carol.signIn("Carol", other)
	carolWS := carol.dial(other)
	carolWS.next()
	carolWS.send("elsewhere", "y")
	carolWS.until(`id="msg-1"`)
	bobWS.send("two", "z")
	if f := annWS.until(`id="msg-`); !strings.Contains(f, `id="msg-2"`) || strings.Contains(f, "elsewhere") {
		t.Fatalf("ann got %s, want only her room's msg-2", f)
	}
}

// On shutdown every socket gets 1012 and run returns well within Cloud
// Run's 10 s.
func TestShutdownClosesSocketsWith1012(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := uniqueRoom()
	ann := newUser(t, inst.URL)
	ann.signIn("Ann", room)
	var socks []*socket
	for range 3 {
		s := ann.dial(room)
		s.next()
		socks = append(socks, s)
	}
	took := make(chan int64, 1)
	go func() { took <- inst.stop().Milliseconds() }()
	for _, s := range socks {
		if code := s.closeStatus(); code != websocket.StatusServiceRestart {
			t.Fatalf("socket closed with %v, want 1012", code)
		}
	}
	if ms := <-took; ms > 8000 {
		t.Fatalf("shutdown took %d ms, want under 8000", ms)
	}
}
