package main

import (
	"bytes"
	"math"
	"strconv"
)

// The markers a frame is read by (views/fragments.templ and room.templ).
// Plain bytes.Index: the generator parses every delivery and must stay cheap.
var (
	historyTag = []byte(`<ol id="messages" hx-swap-oob="innerMorph">`)
	olEnd      = []byte(`</ol>`)
	itemTag    = []byte(`<li id="msg-`)
	itemEnd    = []byte(`</li>`)
	textTag    = []byte(`<p class="text"`) // then attributes such as dir
	pEnd       = []byte(`</p>`)
	reply      = []byte(`<p data-signal="reply"`) // then data-* attributes
	sentMark   = []byte(`data-outcome="sent"`)
)

// item is one message found in a frame.
type item struct {
	seq     int64
	text    []byte // as rendered, HTML-escaped; aliases the frame
	history bool   // inside a history list, not a live append
}

// scanFrame calls visit for every message item of one WebSocket message, in
// order, and returns how many history lists it holds. The server may
// coalesce several fragments into one message, even a history list followed
// by live appends, so each item is classed by where it sits.
func scanFrame(data []byte, visit func(item)) (histories int) {
	for {
		h := bytes.Index(data, historyTag)
		if h < 0 {
			scanItems(data, false, visit)
			return histories
		}
		scanItems(data[:h], false, visit)
		histories++
		data = data[h+len(historyTag):]
		end := bytes.Index(data, olEnd)
		if end < 0 {
			end = len(data)
		}
		scanItems(data[:end], true, visit)
		data = data[end:]
	}
}

func scanItems(data []byte, history bool, visit func(item)) {
	for {
		i := bytes.Index(data, itemTag)
		if i < 0 {
			return
		}
		data = data[i+len(itemTag):]
		n := 0
		for n < len(data) && n < 19 && data[n] >= '0' && data[n] <= '9' {
			n++
		}
		if n == 0 || n >= len(data) || data[n] != '"' {
			continue
		}
		seq, err := strconv.ParseInt(string(data[:n]), 10, 64)
		if err != nil {
			continue
		}
		end := bytes.Index(data, itemEnd)
		if end < 0 {
			end = len(data)
		}
		body := data[n:end]
		var text []byte
		if t := bytes.Index(body, textTag); t >= 0 {
			rest := body[t+len(textTag):]
			if gt := bytes.IndexByte(rest, '>'); gt >= 0 {
				rest = rest[gt+1:]
				if e := bytes.Index(rest, pEnd); e >= 0 {
					text = rest[:e]
				}
			}
		}
		visit(item{seq: seq, text: text, history: history})
		data = data[end:]
	}
}

// scanReplies counts the sender's own replies in a frame: one that says
// sent answers an accepted message; any other is a refusal, whose reason is
// passed to refused.
func scanReplies(data []byte, refused func(reason []byte)) (accepted int) {
	for {
		i := bytes.Index(data, reply)
		if i < 0 {
			return accepted
		}
		data = data[i+len(reply):]
		gt := bytes.IndexByte(data, '>')
		if gt < 0 {
			return accepted
		}
		attrs := data[:gt]
		data = data[gt+1:]
		e := bytes.Index(data, pEnd)
		if e < 0 {
			e = len(data)
		}
		if bytes.Contains(attrs, sentMark) {
			accepted++
		} else if refused != nil {
			refused(bytes.TrimSpace(data[:e]))
		}
		data = data[e:]
	}
}

// The payload of a bench message is "b <run> <sender> <unix nanos>": only
// letters, digits and spaces, so that HTML escaping leaves it as it is (and
// JSON's, for Socket.IO). A counted payload adds " <n>", the sender's
// message number: a protocol without the chat's seq tells messages apart by
// it.

// appendPayload appends the payload of a message sender sends at sentNanos.
func appendPayload(dst []byte, run string, sender int, sentNanos int64) []byte {
	dst = append(dst, "b "...)
	dst = append(dst, run...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(sender), 10)
	dst = append(dst, ' ')
	return strconv.AppendInt(dst, sentNanos, 10)
}

// parsePayload returns the sender and send time of a message of this run;
// ok is false for anything else (someone else's message, another run's).
func parsePayload(text []byte, run string) (sender int, sentNanos int64, ok bool) {
	text = bytes.TrimSpace(text)
	if len(text) < 2+len(run)+1 || text[0] != 'b' || text[1] != ' ' ||
		string(text[2:2+len(run)]) != run || text[2+len(run)] != ' ' {
		return 0, 0, false
	}
	rest := text[3+len(run):]
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return 0, 0, false
	}
	s, ok1 := parseDigits(rest[:sp])
	t, ok2 := parseDigits(rest[sp+1:])
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return int(s), t, true
}

// appendCountedPayload appends the payload of sender's n-th message, sent
// at sentNanos.
func appendCountedPayload(dst []byte, run string, sender, n int, sentNanos int64) []byte {
	dst = appendPayload(dst, run, sender, sentNanos)
	dst = append(dst, ' ')
	return strconv.AppendInt(dst, int64(n), 10)
}

// parseCountedPayload is parsePayload for a counted payload: it also
// returns the message number.
func parseCountedPayload(text []byte, run string) (sender int, n, sentNanos int64, ok bool) {
	text = bytes.TrimSpace(text)
	sp := bytes.LastIndexByte(text, ' ')
	if sp < 0 {
		return 0, 0, 0, false
	}
	n, ok = parseDigits(text[sp+1:])
	if !ok {
		return 0, 0, 0, false
	}
	sender, sentNanos, ok = parsePayload(text[:sp], run)
	return sender, n, sentNanos, ok
}

// parseDigits reads a non-negative decimal that fits in an int64.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// appendSendFrame appends the JSON frame htmx's ws extension sends for the
// message form. Payload and nonce are letters, digits, spaces and '-', so
// they need no JSON escaping.
func appendSendFrame(dst []byte, run string, sender, n int, sentNanos int64) []byte {
	dst = append(dst, `{"text":"`...)
	dst = appendPayload(dst, run, sender, sentNanos)
	dst = append(dst, `","nonce":"`...)
	dst = append(dst, run...)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(sender), 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, `","headers":{"HX-Request":"true"}}`...)
}
