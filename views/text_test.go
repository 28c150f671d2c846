package views

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// hostileTexts are messages that try to become markup, scripts or links
// they are not.
var hostileTexts = []string{
	"see https://example.com/a?b=1&c=2 now",
	"https://example.com/wiki/Go_(language), and (https://example.com/x).",
	"HTTPS://EXAMPLE.COM/UPPER",
	"javascript:alert(1)", "JaVaScRiPt:alert(1)", "http:javascript:alert(1)", "https://",
	"data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "mailto:a@example.com",
	`https://example.com/"onmouseover="alert(1)`, `https://example.com/'><script>alert(1)</script>`,
	"https://example.com/<b>bold</b>", "<a href=\"https://example.com\">x</a>",
	"http://[::1]:8080/path", "https://user:pw@example.com/", "xhttps://example.com",
	"ftp://example.com/file", "//example.com/protocol-relative", "https://example.com/\u202Eevil",
	"two\nlines https://example.com\nthree", "&lt;already escaped&gt;", "a & b < c > d \" e ' f",
	"https://例え.jp/パス", "https://example.com/" + strings.Repeat("a", 1900),
}

// render renders m's row and parses it back.
func render(t testing.TB, m Message) *html.Node {
	t.Helper()
	var b bytes.Buffer
	if err := messageRow(m, false, false, "", Viewer{}).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader("<ol>" + b.String() + "</ol>"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// checkMarkup holds for any text: the text reads back exactly as sent,
// nothing but a, span, time and p is made of it, and every link is an http
// or https address of the text itself, opened apart from the page.
func checkMarkup(t testing.TB, text string) {
	t.Helper()
	doc := render(t, Message{Seq: 7, Name: "Ann", Text: text, Time: time.Unix(1764600000, 0)})
	var p *html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "p" {
			p = n
		}
		if n.Type != html.ElementNode {
			continue
		}
		if !slices.Contains([]string{"html", "head", "body", "ol", "li", "span", "time", "p", "a"}, n.Data) {
			t.Fatalf("%q made a <%s>", text, n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "src" {
				t.Fatalf("%q made the attribute %s=%q on <%s>", text, a.Key, a.Val, n.Data)
			}
		}
		if n.Data != "a" {
			continue
		}
		attrs := map[string]string{}
		for _, a := range n.Attr {
			attrs[a.Key] = a.Val
		}
		href := attrs["href"]
		if !strings.HasPrefix(strings.ToLower(href), "http://") && !strings.HasPrefix(strings.ToLower(href), "https://") {
			t.Fatalf("%q made a link to %q", text, href)
		}
		if !strings.Contains(text, href) {
			t.Fatalf("%q made a link to %q, which it does not hold", text, href)
		}
		if attrs["rel"] != "noopener noreferrer nofollow ugc" || attrs["target"] != "_blank" {
			t.Fatalf("%q: link %q with rel=%q target=%q", text, href, attrs["rel"], attrs["target"])
		}
		if n.FirstChild == nil || n.FirstChild.Data != href || n.FirstChild.NextSibling != nil {
			t.Fatalf("%q: link %q does not show its own address", text, href)
		}
	}
	if p == nil {
		t.Fatalf("%q: no text paragraph", text)
	}
	var got strings.Builder
	for n := range p.Descendants() {
		if n.Type == html.TextNode {
			got.WriteString(n.Data)
		}
	}
	if got.String() != text {
		t.Fatalf("text %q reads back as %q", text, got.String())
	}
}

func TestMessageMarkup(t *testing.T) {
	for _, text := range hostileTexts {
		checkMarkup(t, text)
	}
	links := func(text string) []string {
		var out []string
		for n := range render(t, Message{Text: text}).Descendants() {
			if n.Type == html.ElementNode && n.Data == "a" {
				out = append(out, n.FirstChild.Data)
			}
		}
		return out
	}
	for text, want := range map[string][]string{
		"see https://example.com/a?b=1&c=2 now":                                {"https://example.com/a?b=1&c=2"},
		"https://example.com/wiki/Go_(language), and (https://example.com/x).": {"https://example.com/wiki/Go_(language)", "https://example.com/x"},
		"HTTPS://EXAMPLE.COM/UPPER":                                            {"HTTPS://EXAMPLE.COM/UPPER"},
		"javascript:alert(1)":                                                  nil,
		"http:javascript:alert(1)":                                             nil,
		"https://":                                                             nil,
		"mailto:a@example.com":                                                 nil,
		"ftp://example.com/file":                                               nil,
		"//example.com/protocol-relative":                                      nil,
		"xhttps://example.com":                                                 nil,
		"two\nlines https://example.com\nthree":                                {"https://example.com"},
		`https://example.com/"onmouseover="alert(1)`:                           {"https://example.com/"},
	} {
		if got := links(text); !slices.Equal(got, want) {
			t.Errorf("%q: links %q, want %q", text, got, want)
		}
	}
}

func FuzzMessageMarkup(f *testing.F) {
	for _, s := range hostileTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !strings.ContainsFunc(text, func(r rune) bool { return r == 0 || r == '\r' || r == 0xFFFD }) &&
			utf8Valid(text) {
			checkMarkup(t, text)
		}
	})
}

// utf8Valid leaves out what validation refuses before anything renders.
func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// Grouping and days, as the page without its script shows them.
func TestMessageListGroupsAndDays(t *testing.T) {
	at := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, time.UTC) }
	msgs := []Message{
		{Seq: 1, Name: "Ann", Time: at(1, 23, 58)},
		{Seq: 2, Name: "Ann", Time: at(1, 23, 59)}, // under 1
		{Seq: 3, Name: "Ann", Time: at(2, 0, 1)},   // a new day
		{Seq: 4, Name: "Bob", Time: at(2, 0, 2)},   // another sender
		{Seq: 5, Name: "Ann", Time: at(2, 0, 3)},
		{Seq: 6, Name: "Ann", Time: at(2, 0, 9)}, // six minutes later
	}
	var b bytes.Buffer
	if err := messageList(msgs, Viewer{Name: "Bob"}).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`<li id="msg-1" data-name="Ann" data-day="Tuesday 1 December 2026 (UTC)">`,
		`<li id="msg-2" data-name="Ann" class="cont">`,
		`<li id="msg-3" data-name="Ann" data-day="Wednesday 2 December 2026 (UTC)">`,
		`<li id="msg-4" data-name="Bob" class="mine">`,
		`<li id="msg-5" data-name="Ann">`,
		`<li id="msg-6" data-name="Ann">`,
		`<time datetime="2026-12-01T23:58:00Z" data-full="Tuesday 1 December 2026, 23:58:00 UTC">23:58 UTC</time>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}
