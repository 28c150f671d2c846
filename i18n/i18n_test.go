package i18n

import (
	"context"
	"strings"
	"testing"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
)

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		chosen, header string
		want           Lang
	}{
		{"", "zh-TW,zh;q=0.9", TraditionalChinese},
		{"", "zh-Hant", TraditionalChinese},
		{"", "zh-HK", TraditionalChinese},
		{"", "zh-MO", TraditionalChinese},
		{"", "fr, zh-TW;q=0.5", TraditionalChinese},
		{"", "zh-CN", English},
		{"", "zh", English},
		{"", "zh-SG", English},
		{"", "en-US", English},
		{"", "ja", English},
		{"", "", English},
		{"", "not a header;;;", English},
		{"en", "zh-TW", English},
		{"zh-TW", "en-US", TraditionalChinese},
		{"xx", "zh-TW", TraditionalChinese},
	} {
		if got := Negotiate(c.chosen, c.header); got != c.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", c.chosen, c.header, got, c.want)
		}
	}
}

func TestPrinter(t *testing.T) {
	c := Default()
	zh := WithPrinter(context.Background(), c.Printer(TraditionalChinese))
	if got := T(zh, "error.not_found"); got != "找不到頁面" {
		t.Errorf("zh not_found = %q", got)
	}
	if got := T(context.Background(), "error.not_found"); got != "Not found" {
		t.Errorf("default not_found = %q", got)
	}
	if got := T(zh, "page.title_of", "Title", "x"); got != "x－聊天" {
		t.Errorf("zh title_of = %q", got)
	}
	if got := T(zh, "no.such.id"); got != "no.such.id" {
		t.Errorf("missing id = %q", got)
	}
}

// Counted sentences are filled without the Localizer, and say exactly
// what it says, for every plural message of both languages, at counts
// that take each form.
func TestCountsAsTheLocalizerSays(t *testing.T) {
	c := Default()
	checked := 0
	for _, l := range Langs() {
		p := c.Printer(l)
		for id, m := range p.raw {
			if m.One == "" && m.Few == "" && m.Many == "" && m.Zero == "" && m.Two == "" {
				continue
			}
			for _, n := range []int{0, 1, 2, 3, 5, 11, 21, 101, 1000, -1} {
				args := []any{"Name", "Ann", "Room", "general", "People", "7 people", "Count", n}
				want, err := p.loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: map[string]any{"Name": "Ann", "Room": "general", "People": "7 people", "Count": n}, PluralCount: n})
				if err != nil {
					t.Fatalf("%s %s %d: the Localizer: %v", l, id, n, err)
				}
				if got := p.N(id, n, args[:6]...); got != want {
					t.Errorf("%s %s %d: %q, the Localizer says %q", l, id, n, got, want)
				}
				// A count alone is kept: asked twice, the same again.
				alone, _ := p.loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: map[string]any{"Count": n}, PluralCount: n})
				for range 2 {
					if got := p.N(id, n); got != alone {
						t.Errorf("%s %s %d alone: %q, the Localizer says %q", l, id, n, got, alone)
					}
				}
				checked++
			}
		}
	}
	if checked < 40 {
		t.Fatalf("only %d counted sentences checked", checked)
	}
}

// BenchmarkN is a counted sentence, as the directory writes one per room.
func BenchmarkN(b *testing.B) {
	p := Default().Printer(English)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.N("directory.people", i%40)
	}
}

// Every sentence with names, filled without its template, says what the
// Localizer says, in every language: with every key given, with one
// missing ("<no value>", as the template says), and with values of other
// types.
func TestFillsAsTheLocalizerSays(t *testing.T) {
	c := Default()
	filled := 0
	for _, l := range Langs() {
		p := c.Printer(l)
		for id, m := range p.raw {
			if _, plain := p.plain[id]; plain {
				continue
			}
			if p.fills[id] != nil {
				filled++
			}
			keys := map[string]bool{}
			for _, src := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
				for _, part := range strings.Split(src, "{{")[1:] {
					if k, _, ok := strings.Cut(part, "}}"); ok {
						keys[strings.TrimPrefix(strings.TrimSpace(k), ".")] = true
					}
				}
			}
			for _, data := range []map[string]any{full(keys, "x"), full(keys, 7), missingOne(keys)} {
				var args []any
				for k, v := range data {
					args = append(args, k, v)
				}
				count := any(nil)
				if n, ok := data["Count"].(int); ok {
					count = n
				}
				want, err := p.loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
				if err != nil {
					continue // a counted sentence without its count: N's test
				}
				var got string
				if n, ok := count.(int); ok {
					got = p.N(id, n, args...)
				} else {
					got = p.T(id, args...)
				}
				if got != want {
					t.Errorf("%s %s %v: %q, the Localizer says %q", l, id, data, got, want)
				}
			}
		}
	}
	if filled < 40 {
		t.Fatalf("only %d sentences filled without their template", filled)
	}
}

// full gives each key v ("Count" an int).
func full(keys map[string]bool, v any) map[string]any {
	data := map[string]any{}
	for k := range keys {
		data[k] = v
		if k == "Count" {
			data[k] = 3
		}
	}
	return data
}

// missingOne gives each key but one a name.
func missingOne(keys map[string]bool) map[string]any {
	data := full(keys, "Ann & <b>")
	for k := range keys {
		if k != "Count" {
			delete(data, k)
			break
		}
	}
	return data
}
