package chattest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	historyFrame = regexp.MustCompile(`<ol id="messages" hx-swap-oob="innerMorph">`)
	itemID       = regexp.MustCompile(`<li id="msg-(\d+)"`)
)

// IsHistory reports whether frame holds a room's history: the fragment
// that replaces the page's whole list of messages.
func IsHistory(frame string) bool { return historyFrame.MatchString(frame) }

// View is what a page shows in #messages, rebuilt from the frames it got:
// a history frame replaces the list, a message frame appends to it.
type View struct {
	// Seqs are the numbers of the messages shown, in order.
	Seqs []int
	// Dups are seqs appended while already shown.
	Dups []int
	// Histories is how many messages each history frame held.
	Histories []int
}

// Apply applies one WebSocket message as htmx does: its fragments in
// order, so a message appended before a history in the same message is
// replaced by that history, and one after it is added to it.
func (v *View) Apply(frame string) {
	for {
		h := historyFrame.FindStringIndex(frame)
		if h == nil {
			v.append(frame)
			return
		}
		v.append(frame[:h[0]])
		rest := frame[h[1]:]
		end := strings.Index(rest, "</ol>")
		if end < 0 {
			end = len(rest)
		}
		ids := itemID.FindAllStringSubmatch(rest[:end], -1)
		v.Seqs = v.Seqs[:0]
		v.Histories = append(v.Histories, len(ids))
		v.append(rest[:end])
		frame = rest[end:]
	}
}

// append adds the message items of a part of a frame to the view.
func (v *View) append(part string) {
	for _, m := range itemID.FindAllStringSubmatch(part, -1) {
		n, _ := strconv.Atoi(m[1])
		if slices.Contains(v.Seqs, n) {
			v.Dups = append(v.Dups, n)
			continue
		}
		v.Seqs = append(v.Seqs, n)
	}
}

// Has reports whether the view shows message seq.
func (v *View) Has(seq int) bool { return slices.Contains(v.Seqs, seq) }

// Contiguous reports whether the view shows exactly 1..n in order.
func (v *View) Contiguous(n int) bool {
	if len(v.Seqs) != n {
		return false
	}
	for i, s := range v.Seqs {
		if s != i+1 {
			return false
		}
	}
	return true
}
