package i18n

import (
	"fmt"
	"strconv"
	"strings"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
)

// Most sentences with names only put values where they say {{.Key}}: a
// text/template run for that cost a microsecond and a dozen allocations
// per sentence, and "Your rooms" says several per room, for every socket,
// every few seconds (docs/PERFORMANCE.md). A form of that shape is kept
// as its parts and filled directly; any other goes through its template.

// fill is one plural form of a message as its parts: literal text, and
// the keys whose values go between.
type fill struct {
	lits []string // len(keys)+1
	keys []string
}

// fills are a message's forms by name ("one", "other", ...) that have
// the simple shape.
type fills map[string]*fill

// newFills returns m's forms of the simple shape, nil when none is.
func newFills(m *goi18n.Message) fills {
	if m.LeftDelim != "" || m.RightDelim != "" {
		return nil
	}
	out := fills{}
	for form, src := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
		if src == "" {
			continue
		}
		if f := parseFill(src); f != nil {
			out[form] = f
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseFill splits src at its {{.Key}} actions; nil if it has any other.
func parseFill(src string) *fill {
	f := &fill{}
	for {
		i := strings.Index(src, "{{")
		if i < 0 {
			if strings.Contains(src, "}}") {
				return nil
			}
			f.lits = append(f.lits, src)
			return f
		}
		j := strings.Index(src[i:], "}}")
		if j < 0 {
			return nil
		}
		action := strings.TrimSpace(src[i+2 : i+j])
		key, ok := strings.CutPrefix(action, ".")
		if !ok || !isIdent(key) || strings.Contains(src[:i], "}}") {
			return nil
		}
		f.lits = append(f.lits, src[:i])
		f.keys = append(f.keys, key)
		src = src[i+j+2:]
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// fill returns f with the values of args (pairs of key and value, the
// last of a key counting, as T's map does), as text/template prints them;
// false when args lack a key (the template says "<no value>" then).
func (f *fill) fill(args []any) (string, bool) {
	var b strings.Builder
	for i, key := range f.keys {
		v, ok := lookup(args, key)
		if !ok {
			return "", false
		}
		b.WriteString(f.lits[i])
		switch v := v.(type) {
		case string:
			b.WriteString(v)
		case int:
			b.WriteString(strconv.Itoa(v))
		default:
			fmt.Fprint(&b, v)
		}
	}
	b.WriteString(f.lits[len(f.keys)])
	return b.String(), true
}

// lookup finds key's value in args, pairs of key and value: the last.
func lookup(args []any, key string) (any, bool) {
	for i := len(args)&^1 - 2; i >= 0; i -= 2 {
		if k, ok := args[i].(string); ok && k == key {
			return args[i+1], true
		}
	}
	return nil, false
}
