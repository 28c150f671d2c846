package views

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// textPart is a run of a message's text: plain, or a web address shown as
// a link (URL set).
type textPart struct {
	Text string
	URL  string
}

// webAddress finds what looks like an http or https address; linkParts
// then checks that it is one.
var webAddress = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"]+`)

// linkParts splits text into plain runs and web addresses. Only http and
// https become links: anything else (javascript:, data:, mailto:) stays
// text. Punctuation that ends a sentence is not part of the address, nor is
// a closing bracket without its opening one.
func linkParts(text string) []textPart {
	var parts []textPart
	last := 0
	for _, m := range webAddress.FindAllStringIndex(text, -1) {
		start, end := m[0], trimAddress(text[m[0]:m[1]])+m[0]
		u, err := url.Parse(text[start:end])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		if start > last {
			parts = append(parts, textPart{Text: text[last:start]})
		}
		parts = append(parts, textPart{Text: text[start:end], URL: text[start:end]})
		last = end
	}
	if last < len(text) {
		parts = append(parts, textPart{Text: text[last:]})
	}
	return parts
}

// trimAddress returns the length of addr without the punctuation that
// follows an address in a sentence.
func trimAddress(addr string) int {
	for addr != "" {
		c := addr[len(addr)-1]
		switch {
		case strings.IndexByte(".,:;!?'*", c) >= 0:
		case c == ')' && strings.Count(addr, "(") < strings.Count(addr, ")"):
		case c == ']' && strings.Count(addr, "[") < strings.Count(addr, "]"):
		default:
			return len(addr)
		}
		addr = addr[:len(addr)-1]
	}
	return 0
}

// Grouping: a message from the same sender as the one before it, within
// groupGap and on the same day, sits under that one's name.
const groupGap = 5 * time.Minute

// continues reports whether m sits under prev's name.
func continues(prev, m Message) bool {
	if prev.Name != m.Name || m.Time.Sub(prev.Time) > groupGap || m.Time.Before(prev.Time) {
		return false
	}
	py, pm, pd := prev.Time.UTC().Date()
	y, mo, d := m.Time.UTC().Date()
	return py == y && pm == mo && pd == d
}

// dayLabel names m's day (UTC), shown above its first message when no
// script rewrites it in the reader's zone.
func dayLabel(t time.Time) string { return t.UTC().Format("Monday 2 January 2006") + " (UTC)" }

// newDay reports whether m starts a day in a list where prev came before
// it (prev zero: m is first).
func newDay(prev, m Message) bool {
	if prev.Time.IsZero() {
		return true
	}
	py, pm, pd := prev.Time.UTC().Date()
	y, mo, d := m.Time.UTC().Date()
	return py != y || pm != mo || pd != d
}
