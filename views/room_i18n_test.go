package views

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"github.com/chatrun/chat/i18n"
)

var zhCtx = i18n.WithPrinter(context.Background(), i18n.Default().Printer(i18n.TraditionalChinese))

// roomI18nPages are the room's pages and fragments with everything they
// can show: replies, reactions, edits, deletions, every side panel.
func roomI18nPages() map[string]templ.Component {
	t0 := time.Date(2026, 12, 6, 9, 5, 7, 0, time.UTC)
	msgs := []Message{
		{Seq: 1, Name: "Ann", Text: "hi", Time: t0, Verified: true, Author: "a1", Edited: t0.Add(time.Minute),
			Reactions: []Reaction{{Emoji: "👍", Names: []string{"Ann"}}, {Emoji: "🎉", Names: []string{"Ann", "Bob"}},
				{Emoji: "😂", Names: []string{"Ann", "Bob", "Cat"}}, {Emoji: "🙏", Names: []string{"Ann", "Bob", "Cat", "Dan", "Eve"}}}},
		{Seq: 2, Name: "Ann", Text: "more", Time: t0.Add(time.Minute), Author: "a1", Reply: &Quote{Seq: 1, Name: "Ann", Text: "hi"}},
		{Seq: 3, Name: "Bob", Time: t0.Add(2 * time.Minute), Deleted: "moderator"},
		{Seq: 4, Name: "Bob", Time: t0.Add(30 * time.Hour), Deleted: "author", Reply: &Quote{Seq: 3, Deleted: "author"}},
		{Seq: 5, Name: "Cat", Text: "x", Time: t0.Add(31 * time.Hour), Reply: &Quote{Seq: 9}},
	}
	page := RoomPage{Room: "general", Name: "Ann", Handle: "a1", Moderator: true, Members: []string{"Ann", "Bob"},
		Verified: true, Messages: msgs, MaxText: 2000, Earlier: 1, Link: "https://x/rooms/general",
		Reply: &Quote{Seq: 1, Name: "Ann", Text: "hi"}}
	dm, private, unlisted, empty := page, page, page, RoomPage{Room: "new", Name: "Zed", Link: "https://x/rooms/new"}
	dm.DMWith = "Bob"
	private.Private, private.Creator, private.InviteLink, private.RoomMembers = true, true, "https://x/i", []string{"Ann", "Bob"}
	unlisted.Unlisted = true
	return map[string]templ.Component{
		"room": Room(page), "dm": Room(dm), "private": Room(private), "unlisted": Room(unlisted), "empty": Room(empty),
		"scrollback":  Scrollback(ScrollbackPage{Room: "general", Name: "Ann", Handle: "a1", Messages: msgs}),
		"unavailable": Scrollback(ScrollbackPage{Room: "general", Unavailable: "x", Earlier: 3}),
		"earlier":     EarlierLink("general", 4, false, true),
	}
}

func roomRenderIn(t *testing.T, ctx context.Context, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRoomInTraditionalChinese: the room's pages in zh-TW say nothing of
// the room's own in English.
func TestRoomInTraditionalChinese(t *testing.T) {
	var all strings.Builder
	for name, c := range roomI18nPages() {
		s := roomRenderIn(t, zhCtx, c)
		all.WriteString(s)
		said := readerText(t, s)
		for _, en := range []string{"Skip to", "Signed in", "Change room", "Sign out", "Notify me", "Retry now",
			"Conversation", `"Messages"`, "New messages", "Refresh", "Here now", "Direct messages", "Unlisted", "Rooms<",
			"Private room", "invitation", "Invitation", ">Copy", "Members", ">Remove", "Remove for", "minutes", "hour",
			"days", ">good<", "Verified", "verified", "edited", "Edited", "deleted", "moderator.", ">Reply<", ">React<",
			">Edit<", ">Delete<", "In reply to", "An earlier", "Reactions", " and ", " others", "Replying to",
			"Cancel reply", ">Message<", "Write a message", ">Send<", "Enter sends", "No messages", "room's link",
			"Copy link", "Earlier messages", "start of the room", "earlier messages", "Back to the newest",
			"Sunday", "Monday", "December", " — Chat", "Room ", "With Bob"} {
			if strings.Contains(said, en) {
				t.Errorf("%s in zh-TW still says %q", name, en)
			}
		}
		if strings.Contains(s, "room.") {
			t.Errorf("%s in zh-TW shows a message id: %s", name, regexp.MustCompile(`room\.[a-z_.]+`).FindString(s))
		}
	}
	for _, zh := range []string{"跳至訊息輸入框", "登入身分：<strong dir=\"auto\">Ann</strong>", "切換聊天室", "登出", "目前線上",
		"2026年12月6日 星期日（UTC）", "2026年12月7日 星期一（UTC）", "2026年12月6日 星期日 09:05:07 UTC", "已編輯",
		"Ann、Bob 和其他 3 人", "Ann、Bob 和 Cat", "Ann 和 Bob", "訊息已刪除。", "已由管理員移除。", "一則較早的訊息。",
		"回覆給 <strong dir=\"auto\">Ann</strong>：<span dir=\"auto\">hi</span>", "與 Bob 的私訊", "不公開聊天室", "私人聊天室",
		"這裡還沒有訊息。", "較早的訊息", "<title>general－聊天</title>", "<title>general－較早的訊息－聊天</title>",
		"15 分鐘", "1 小時", "7 天", "永久", "傳送", "輸入訊息", "。<a href=\"/rooms/general\">重新整理以檢視新訊息</a>。"} {
		if !strings.Contains(all.String(), zh) {
			t.Errorf("the room's pages in zh-TW do not say %q", zh)
		}
	}
}

// readerText is what page s says to its reader: its text (not its
// script's strings) and the attributes that are read or shown, one a line,
// each text node between > and <.
func readerText(t *testing.T, s string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(">" + n.Data + "<\n")
		case n.Type == html.ElementNode && n.Data == "script":
			return
		case n.Type == html.ElementNode:
			for _, a := range n.Attr {
				switch a.Key {
				case "title", "aria-label", "placeholder", "data-day", "data-full", "data-names":
					b.WriteString("\"" + a.Val + "\"\n")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}

// TestRoomEnglishDates: English days and times read as they always have.
func TestRoomEnglishDates(t *testing.T) {
	ctx := context.Background()
	for d := time.Date(2026, 1, 1, 23, 59, 58, 0, time.UTC); d.Year() == 2026; d = d.Add(31 * time.Hour) {
		if got, want := dayLabel(ctx, d), d.Format("Monday 2 January 2006")+" (UTC)"; got != want {
			t.Errorf("dayLabel(%v) = %q, want %q", d, got, want)
		}
		if got, want := fullTime(ctx, d), d.Format("Monday 2 January 2006, 15:04:05")+" UTC"; got != want {
			t.Errorf("fullTime(%v) = %q, want %q", d, got, want)
		}
	}
	for names, want := range map[string]string{"Ann": "Ann", "Ann Bob": "Ann and Bob", "Ann Bob Cat": "Ann, Bob and Cat",
		"Ann Bob Cat Dan": "Ann, Bob and 2 others"} {
		if got := reactors(ctx, strings.Fields(names)); got != want {
			t.Errorf("reactors(%s) = %q, want %q", names, got, want)
		}
	}
}

// TestRoomMessageIDs: every message the room's code names is in both
// languages' catalogs.
func TestRoomMessageIDs(t *testing.T) {
	id := regexp.MustCompile(`\b[tn]\(ctx, "([a-z_.]+)"`)
	for _, file := range []string{"room.templ", "text.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range id.FindAllStringSubmatch(string(src), -1) {
			for _, l := range i18n.Langs() {
				if !slices.Contains(i18n.Default().IDs(l), m[1]) {
					t.Errorf("%s: %q is not in the %s catalogs", file, m[1], l)
				}
			}
		}
	}
}
