package main

import (
	"encoding/json"
	"slices"
	"testing"
)

// parseSIO reads every packet the service sends, and refuses what Engine.IO
// 4 would not write.
func TestParseSIO(t *testing.T) {
	for _, c := range []struct {
		in   string
		kind sioKind
		ack  int64
		data string
	}{
		{`0{"sid":"a","pingInterval":25000}`, sioOpen, -1, `{"sid":"a","pingInterval":25000}`},
		{`1`, sioClose, -1, ``},
		{`2`, sioPing, -1, ``},
		{`3`, sioOther, -1, ``},
		{`6`, sioOther, -1, ``},
		{`40{"sid":"b"}`, sioConnect, -1, `{"sid":"b"}`},
		{`40`, sioConnect, -1, ``},
		{`41`, sioDisconnect, -1, ``},
		{`44{"message":"no"}`, sioConnectError, -1, `{"message":"no"}`},
		{`42["message",{"user":"u","text":"t"}]`, sioEvent, -1, `["message",{"user":"u","text":"t"}]`},
		{`4217["x"]`, sioEvent, 17, `["x"]`},
		{`431[]`, sioAck, 1, `[]`},
		{`430[null,{"messages":[]}]`, sioAck, 0, `[null,{"messages":[]}]`},
		{`4312["User session not found."]`, sioAck, 12, `["User session not found."]`},
		{`42/admin,["message",{}]`, sioOther, -1, ``},
		{`451-["x",{"_placeholder":true,"num":0}]`, sioOther, -1, ``},
	} {
		p, ok := parseSIO([]byte(c.in))
		if !ok || p.kind != c.kind || p.ack != c.ack || string(p.data) != c.data {
			t.Errorf("%s: kind %d, ack %d, data %q, ok %v; want %d, %d, %q", c.in, p.kind, p.ack, p.data, ok, c.kind, c.ack, c.data)
		}
	}
	for _, bad := range []string{
		``, `9`, `0`, `0x`, `4`, `49`, `40x`, `44`, `42`, `42[`, `42{}`, `42x["a"]`, `42["a"`,
		`43[]`, `43x[]`, `4399999999999999999999[]`, `431`, `431{}`,
	} {
		if p, ok := parseSIO([]byte(bad)); ok {
			t.Errorf("%q parsed as %+v", bad, p)
		}
	}
}

func TestSIOEventArgs(t *testing.T) {
	for _, c := range []struct{ in, name, args string }{
		{`["message",{"user":"u","text":"t"}]`, "message", `{"user":"u","text":"t"}`},
		{`["notification",{"title":"a"}]`, "notification", `{"title":"a"}`},
		{`["ping"]`, "ping", ``},
		{`["sendMessage","hi",1]`, "sendMessage", `"hi",1`},
	} {
		name, args, ok := sioEventArgs([]byte(c.in))
		if !ok || string(name) != c.name || string(args) != c.args {
			t.Errorf("%s: %q %q %v", c.in, name, args, ok)
		}
	}
	for _, bad := range []string{``, `[]`, `[1,2]`, `["x"`, `["x" 1]`, `["x`, `{"x":1}`} {
		if name, args, ok := sioEventArgs([]byte(bad)); ok {
			t.Errorf("%q parsed as %q %q", bad, name, args)
		}
	}
}

func TestSIOMessageText(t *testing.T) {
	for _, c := range []struct {
		in, text string
		ok       bool
	}{
		{`{"user":"u","text":"b run1 3 4 5"}`, "b run1 3 4 5", true},
		{`{"text":"","user":"u"}`, "", true},
		// A name holding the key is escaped, and not taken for it.
		{`{"user":"\"text\":\"b run1 3 4 5","text":"hi"}`, "hi", true},
		// Escapes end the text early: it is not a payload either way.
		{`{"user":"u","text":"say \"b run1 3 4 5\""}`, `say \`, true},
		{`{"user":"u"}`, "", false},
		{`{"user":"u","text":"open`, "", false},
		{`"text"`, "", false},
	} {
		text, ok := sioMessageText([]byte(c.in))
		if ok != c.ok || string(text) != c.text {
			t.Errorf("%s: %q %v; want %q %v", c.in, text, ok, c.text, c.ok)
		}
	}
}

func TestSIOAckError(t *testing.T) {
	for in, want := range map[string]string{
		`[]`:                          "",
		`[null]`:                      "",
		`[null,{"room":"r"}]`:         "",
		`[ null ]`:                    "",
		`["User session not found."]`: "User session not found.",
		`[{},null]`:                   `{},null`,
		`[false]`:                     `false`,
		`x`:                           "",
	} {
		if got := sioAckError([]byte(in)); string(got) != want || (want == "") != (got == nil) {
			t.Errorf("%s: %q; want %q", in, got, want)
		}
	}
}

// The bench's own packets are what a Socket.IO server reads: valid JSON
// arrays after the type and ack id, and the payload comes back out.
func TestSIOPackets(t *testing.T) {
	signin := appendSIOSignin(nil, "m0-1-abcd1234", "bench-0")
	if string(signin) != `420["signin",{"user":"m0-1-abcd1234","room":"bench-0"}]` {
		t.Errorf("signin %s", signin)
	}
	send := appendSIOSend(nil, "abcd1234", 42, 7, 1700000000123456789)
	if string(send) != `428["sendMessage","b abcd1234 42 1700000000123456789 7"]` {
		t.Errorf("sendMessage %s", send)
	}
	for _, pkt := range [][]byte{signin, send} {
		p, ok := parseSIO(pkt)
		var v []any
		if !ok || p.kind != sioEvent || json.Unmarshal(p.data, &v) != nil || len(v) != 2 {
			t.Errorf("%s: %+v %v; want an event with one argument", pkt, p, ok)
		}
	}
	p, _ := parseSIO(send)
	_, args, _ := sioEventArgs(p.data)
	var text string
	if err := json.Unmarshal(args, &text); err != nil {
		t.Fatal(err)
	}
	sender, n, sent, ok := parseCountedPayload([]byte(text), "abcd1234")
	if !ok || sender != 42 || n != 7 || sent != 1700000000123456789 || p.ack != 8 {
		t.Errorf("payload %q: sender %d, n %d, sent %d, %v, ack %d", text, sender, n, sent, ok, p.ack)
	}
	for _, bad := range []string{"", "b abcd1234 42 1", "b abcd1234 42 1 x", "b other123 42 1 7", "b abcd1234 42 1 2 3", "hello 7"} {
		if _, _, _, ok := parseCountedPayload([]byte(bad), "abcd1234"); ok {
			t.Errorf("%q parsed as a counted payload", bad)
		}
	}
}

func TestSeenSet(t *testing.T) {
	var s seenSet
	var fresh []bool
	for _, n := range []int64{0, 1, 1, 200, 63, 64, 0, 200} {
		fresh = append(fresh, s.add(n))
	}
	if want := []bool{true, true, false, true, true, true, false, false}; !slices.Equal(fresh, want) {
		t.Errorf("add: %v; want %v", fresh, want)
	}
	if len(s) != 4 {
		t.Errorf("%d words for numbers up to 200; want 4", len(s))
	}
}
