package views

import (
	"context"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
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

// dayLabel names m's day (UTC) in the page's language, shown above its
// first message when no script rewrites it in the reader's zone: "Sunday 6
// December 2026 (UTC)", "2026年12月6日 星期日（UTC）".
func dayLabel(ctx context.Context, at time.Time) string {
	at = at.UTC()
	y, m, d := at.Date()
	return t(ctx, "room.date.day", "Weekday", weekdayName(ctx, at.Weekday()), "Day", strconv.Itoa(d),
		"Month", monthName(ctx, m), "Year", strconv.Itoa(y))
}

// fullTime is at (UTC) with its date and time to the second, in the page's
// language: "Sunday 6 December 2026, 09:05:07 UTC".
func fullTime(ctx context.Context, at time.Time) string {
	at = at.UTC()
	y, m, d := at.Date()
	return t(ctx, "room.date.full", "Weekday", weekdayName(ctx, at.Weekday()), "Day", strconv.Itoa(d),
		"Month", monthName(ctx, m), "Year", strconv.Itoa(y), "Time", at.Format("15:04:05"))
}

// weekdayName is d's name in the page's language.
func weekdayName(ctx context.Context, d time.Weekday) string {
	switch d {
	case time.Monday:
		return t(ctx, "room.weekday.monday")
	case time.Tuesday:
		return t(ctx, "room.weekday.tuesday")
	case time.Wednesday:
		return t(ctx, "room.weekday.wednesday")
	case time.Thursday:
		return t(ctx, "room.weekday.thursday")
	case time.Friday:
		return t(ctx, "room.weekday.friday")
	case time.Saturday:
		return t(ctx, "room.weekday.saturday")
	}
	return t(ctx, "room.weekday.sunday")
}

// monthName is m's name in the page's language, as a date writes it.
func monthName(ctx context.Context, m time.Month) string {
	switch m {
	case time.February:
		return t(ctx, "room.month.february")
	case time.March:
		return t(ctx, "room.month.march")
	case time.April:
		return t(ctx, "room.month.april")
	case time.May:
		return t(ctx, "room.month.may")
	case time.June:
		return t(ctx, "room.month.june")
	case time.July:
		return t(ctx, "room.month.july")
	case time.August:
		return t(ctx, "room.month.august")
	case time.September:
		return t(ctx, "room.month.september")
	case time.October:
		return t(ctx, "room.month.october")
	case time.November:
		return t(ctx, "room.month.november")
	case time.December:
		return t(ctx, "room.month.december")
	}
	return t(ctx, "room.month.january")
}

// Slots: a sentence that wraps a field in markup of its own (a name in
// <strong>, a link) is written in the catalog with that field where the
// language puts it, given as slot(field); fill then renders the sentence's
// text escaped and each slot as its component. The translator keeps the
// word order of the language.
const slotOpen, slotClose = "\uE000", "\uE001"

// slot marks where field goes in a sentence that fill renders.
func slot(field string) string { return slotOpen + field + slotClose }

// textEscaper escapes text for an element's content, where only & and <
// (and > for old readers) are markup: an apostrophe stays as written.
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// fill renders s, a sentence written with slot markers, as an element's
// text with each slot's component (given as pairs of field and
// templ.Component) in its place. A slot without a component is left out.
// Only in an element's content: s is not escaped for an attribute.
func fill(s string, pairs ...any) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		for s != "" {
			before, rest, ok := strings.Cut(s, slotOpen)
			if before != "" {
				if _, err := io.WriteString(w, textEscaper.Replace(before)); err != nil {
					return err
				}
			}
			if !ok {
				return nil
			}
			field, after, _ := strings.Cut(rest, slotClose)
			for i := 0; i+1 < len(pairs); i += 2 {
				if name, _ := pairs[i].(string); name == field {
					if c, ok := pairs[i+1].(templ.Component); ok && c != nil {
						if err := c.Render(ctx, w); err != nil {
							return err
						}
					}
				}
			}
			s = after
		}
		return nil
	})
}

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

// fileURL is where file id (variant "" or "thumb") is served.
func fileURL(id, variant string) templ.SafeURL {
	if variant != "" {
		return templ.SafeURL("/files/" + url.PathEscape(id) + "/" + variant)
	}
	return templ.SafeURL("/files/" + url.PathEscape(id))
}

// fileMeta is a file's kind and size as its link shows them: "PDF · 240 KB".
func fileMeta(f File) string {
	if f.Kind == "" {
		return FileSize(f.Size)
	}
	return f.Kind + " · " + FileSize(f.Size)
}

// FileSize is n bytes as people read a file's size, in units of 1,024
// (as file managers show them): "812 B", "240 KB", "1.5 MB".
func FileSize(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatInt((n+1<<9)>>10, 10) + " KB"
	case n < 10<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	default:
		return strconv.FormatInt((n+1<<19)>>20, 10) + " MB"
	}
}
