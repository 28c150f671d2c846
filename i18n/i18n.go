// Package i18n holds the chat's languages and the catalogs of what the
// chat says in each: which language a reader gets (Negotiate), and the
// sentences of pages, fragments, refusals and the page's script in it
// (Printer). The catalogs are the TOML files under locales/, one pair per
// part of the chat (part.en.toml, part.zh-TW.toml), read by go-i18n, whose
// CLDR plural rules and templates put counts and names into sentences.
//
// Rendering code takes its Printer from the context (From, T, N): a page
// is rendered in its reader's language, and a pushed fragment once per
// language read in its room.
package i18n

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// Lang is a language the chat speaks, named as its catalogs are
// (part.{Lang}.toml) and as the language cookie holds it.
type Lang string

const (
	// English is the default: what a reader gets when nothing asks for
	// another language.
	English Lang = "en"
	// TraditionalChinese is Traditional Chinese as written in Taiwan.
	TraditionalChinese Lang = "zh-TW"
)

// Langs lists the languages the chat speaks, English first.
func Langs() []Lang { return []Lang{English, TraditionalChinese} }

// Parse returns the language s names exactly as Lang does ("en",
// "zh-TW"), and whether it is one.
func Parse(s string) (Lang, bool) {
	l := Lang(s)
	return l, slices.Contains(Langs(), l)
}

// Tag is l as a BCP 47 tag for <html lang> and Content-Language.
func (l Lang) Tag() string {
	if l == TraditionalChinese {
		return "zh-Hant-TW"
	}
	return "en"
}

// Name is l as its own readers name it: what the language switch shows.
func (l Lang) Name() string {
	if l == TraditionalChinese {
		return "繁體中文"
	}
	return "English"
}

// matcher picks between the chat's languages, in the order of Langs.
var matcher = language.NewMatcher([]language.Tag{language.English, language.MustParse("zh-Hant-TW")})

// Negotiate returns the language of a reader: the one chosen (the language
// cookie's value), else the best match of acceptLanguage (an
// Accept-Language header), else English. Chinese written in Traditional
// characters (zh-TW, zh-Hant, zh-HK, zh-MO) gets Traditional Chinese;
// Simplified Chinese and every other language English.
func Negotiate(chosen, acceptLanguage string) Lang {
	if l, ok := Parse(chosen); ok {
		return l
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return English
	}
	_, i, conf := matcher.Match(tags...)
	// A Simplified tag (zh, zh-CN, zh-SG) matches Traditional only with Low
	// confidence: those readers asked for something else.
	if i == 1 && conf >= language.High {
		return TraditionalChinese
	}
	return English
}

//go:embed locales/*.toml
var locales embed.FS

// Catalog is every sentence of the chat in every language. It does not
// change once loaded: one serves any number of goroutines.
type Catalog struct {
	printers map[Lang]*Printer
	ids      map[Lang][]string
	raw      map[Lang]map[string]*goi18n.Message
}

// defaultCatalog is the catalogs compiled into the binary, loaded once.
var defaultCatalog = sync.OnceValue(func() *Catalog {
	c, err := Load(locales)
	if err != nil {
		// The catalogs are compiled in: a broken one is a bug that the
		// package's tests catch.
		panic(err)
	}
	return c
})

// Default returns the catalogs compiled into the binary.
func Default() *Catalog { return defaultCatalog() }

// Load reads the catalogs under locales/ in fsys: every file named
// part.{lang}.toml, for each language of Langs.
func Load(fsys fs.FS) (*Catalog, error) {
	bundle := goi18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	files, err := fs.Glob(fsys, "locales/*.toml")
	if err != nil {
		return nil, fmt.Errorf("list catalogs: %w", err)
	}
	c := &Catalog{printers: map[Lang]*Printer{}, ids: map[Lang][]string{}, raw: map[Lang]map[string]*goi18n.Message{}}
	for _, name := range files {
		lang, ok := fileLang(name)
		if !ok {
			return nil, fmt.Errorf("catalog %s: name it part.{lang}.toml with lang one of %v", name, Langs())
		}
		buf, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read catalog %s: %w", name, err)
		}
		f, err := bundle.ParseMessageFileBytes(buf, name)
		if err != nil {
			return nil, fmt.Errorf("parse catalog %s: %w", name, err)
		}
		for _, m := range f.Messages {
			if slices.Contains(c.ids[lang], m.ID) {
				return nil, fmt.Errorf("catalog %s: %q is in another %s catalog too", name, m.ID, lang)
			}
			c.ids[lang] = append(c.ids[lang], m.ID)
			if c.raw[lang] == nil {
				c.raw[lang] = map[string]*goi18n.Message{}
			}
			c.raw[lang][m.ID] = m
		}
	}
	for _, l := range Langs() {
		slices.Sort(c.ids[l])
		raw := maps.Clone(c.raw[English])
		maps.Copy(raw, c.raw[l])
		c.printers[l] = newPrinter(bundle, l, c.ids[English], raw)
	}
	return c, nil
}

// fileLang is the language of a catalog file part.{lang}.toml.
func fileLang(name string) (Lang, bool) {
	base := strings.TrimSuffix(path.Base(name), ".toml")
	i := strings.Index(base, ".")
	if i < 0 {
		return "", false
	}
	return Parse(base[i+1:])
}

// IDs lists the messages l's catalogs hold, sorted.
func (c *Catalog) IDs(l Lang) []string { return slices.Clone(c.ids[l]) }

// Printer returns what writes sentences in l (English for a language the
// chat does not speak).
func (c *Catalog) Printer(l Lang) *Printer {
	if p, ok := c.printers[l]; ok {
		return p
	}
	return c.printers[English]
}

// Printer writes the chat's sentences in one language. Safe for any
// number of goroutines.
type Printer struct {
	lang  Lang
	tag   language.Tag // lang's, for its plural rules
	loc   *goi18n.Localizer
	plain map[string]string          // sentences without names or counts, ready
	raw   map[string]*goi18n.Message // as the catalog gives them, English where l's lacks one
	// templates are raw's messages, their templates parsed on first use.
	templates map[string]*goi18n.MessageTemplate
	// fills are raw's forms that only put values in place (fill.go).
	fills map[string]fills
	// counts holds N's sentences of a count alone (countKey → string),
	// bounded by countsKept and the catalog's ids.
	counts sync.Map
}

func newPrinter(bundle *goi18n.Bundle, l Lang, ids []string, raw map[string]*goi18n.Message) *Printer {
	p := &Printer{lang: l, tag: language.Make(string(l)), loc: goi18n.NewLocalizer(bundle, string(l)), plain: map[string]string{}, raw: raw,
		templates: map[string]*goi18n.MessageTemplate{}, fills: map[string]fills{}}
	for id, m := range raw {
		if mt := goi18n.NewMessageTemplate(m); mt != nil {
			p.templates[id] = mt
		}
		if f := newFills(m); f != nil {
			p.fills[id] = f
		}
	}
	for _, id := range ids {
		s, err := p.loc.Localize(&goi18n.LocalizeConfig{MessageID: id})
		if err == nil && !strings.Contains(s, "<no value>") {
			p.plain[id] = s
		}
	}
	return p
}

// Lang is the language p writes.
func (p *Printer) Lang() Lang { return p.lang }

// T returns message id, its {{.Key}} filled from args, given as pairs of
// key and value: T("notice.entered", "Name", "Ann"). A message that no
// catalog holds comes back as its id, so a missing one shows and its test
// fails.
func (p *Printer) T(id string, args ...any) string {
	if len(args) == 0 {
		if s, ok := p.plain[id]; ok {
			return s
		}
	}
	return p.localize(id, nil, args)
}

// N is T for a sentence about count things: the catalog gives its plural
// forms (one, other, ...), chosen by the language's CLDR rules, and
// {{.Count}} is count.
func (p *Printer) N(id string, count int, args ...any) string {
	if len(args) > 0 || count < 0 || count >= countsKept {
		return p.localize(id, count, append(args, "Count", count))
	}
	// A count alone ("7 people", "3 unread") is said the same way every
	// time: kept, since pages say it once per room they list.
	k := countKey{id, count}
	if s, ok := p.counts.Load(k); ok {
		return s.(string)
	}
	s := p.localize(id, count, []any{"Count", count})
	p.counts.Store(k, s)
	return s
}

// countsKept bounds the sentences N keeps: counts below it, of the
// catalog's few counted messages.
const countsKept = 1000

// countKey is a sentence N keeps: a message and its count.
type countKey struct {
	id    string
	count int
}

func (p *Printer) localize(id string, count any, args []any) string {
	// The Localizer matches languages and plural rules on every call (a
	// directory of 50 rooms paid it 50 times a render): the template,
	// parsed once, is filled at once with the form the CLDR rule of p's
	// language picks (x/text's tables, the same rules go-i18n applies),
	// and a form that only puts values in place is filled without it.
	mt := p.templates[id]
	form, err := p.form(count)
	if mt != nil && err == nil {
		if f := p.fills[id][form]; f != nil {
			if s, ok := f.fill(args); ok {
				return s
			}
		}
	}
	data := make(map[string]any, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		k, ok := args[i].(string)
		if !ok {
			k = fmt.Sprint(args[i])
		}
		data[k] = args[i+1]
	}
	if mt != nil && err == nil {
		if s, err := executeAs(mt.Execute, form, data); err == nil {
			return s
		}
	}
	s, err := p.loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if s == "" && err != nil {
		return id
	}
	return s
}

// executeAs runs a message template's Execute in form, named as a string:
// go-i18n's type for forms is internal, and inferred here.
func executeAs[F ~string](execute func(F, any, template.FuncMap) (string, error), form string, data any) (string, error) {
	return execute(F(form), data, nil)
}

// form is the plural form count takes in p's language ("other" without a
// count).
func (p *Printer) form(count any) (string, error) {
	if count == nil {
		return "other", nil
	}
	n, ok := count.(int)
	if !ok {
		return "", fmt.Errorf("count %v: not an int", count)
	}
	switch plural.Cardinal.MatchPlural(p.tag, max(n, -n), 0, 0, 0, 0) {
	case plural.Zero:
		return "zero", nil
	case plural.One:
		return "one", nil
	case plural.Two:
		return "two", nil
	case plural.Few:
		return "few", nil
	case plural.Many:
		return "many", nil
	}
	return "other", nil
}

// Script returns the strings of the page's script: every message whose id
// starts with "js.", keyed by the rest of its id, for the page to hand to
// static/chat.js. A sentence with a count comes as its plural forms
// ({"one": …, "other": …}, chosen in the browser by Intl.PluralRules);
// names and counts stay as {{.Name}} and {{.Count}} for the script to fill.
func (p *Printer) Script() map[string]any {
	out := map[string]any{}
	for id, m := range p.raw {
		key, ok := strings.CutPrefix(id, "js.")
		if !ok {
			continue
		}
		forms := map[string]string{}
		for form, s := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
			if s != "" {
				forms[form] = s
			}
		}
		if len(forms) == 1 && forms["other"] != "" {
			out[key] = forms["other"]
		} else {
			out[key] = forms
		}
	}
	return out
}

type printerKey struct{}

// WithPrinter returns ctx carrying p: what T, N and From use below it.
func WithPrinter(ctx context.Context, p *Printer) context.Context {
	return context.WithValue(ctx, printerKey{}, p)
}

// From returns the Printer ctx carries, else Default's English one.
func From(ctx context.Context) *Printer {
	if p, ok := ctx.Value(printerKey{}).(*Printer); ok {
		return p
	}
	return Default().Printer(English)
}

// T is From(ctx).T: message id in the language of ctx.
func T(ctx context.Context, id string, args ...any) string { return From(ctx).T(id, args...) }

// N is From(ctx).N: a sentence about count things in the language of ctx.
func N(ctx context.Context, id string, count int, args ...any) string {
	return From(ctx).N(id, count, args...)
}
