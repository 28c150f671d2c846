package views

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/chatrun/chat/i18n"
)

// render renders c in lang.
func renderIn(t *testing.T, lang i18n.Lang, c templ.Component) string {
	t.Helper()
	ctx := i18n.WithPrinter(context.Background(), i18n.Default().Printer(lang))
	var b strings.Builder
	if err := c.Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The sign-in page, the directory, the pushed fragments and the pages that
// work without JavaScript speak Traditional Chinese to its readers, and
// none of their English is left.
func TestViewsInTraditionalChinese(t *testing.T) {
	rooms := []RoomCount{{Room: "a", Members: 1}, {Room: "b", Members: 3, Private: true}, {Room: "dm", DM: true, Label: "Bob"}}
	for _, c := range []struct {
		name    string
		c       templ.Component
		zh      []string
		english []string
	}{
		{"sign-in", SignIn(SignInForm{Name: "Ann", Rooms: rooms, Private: true, Provider: "Google", Verified: "ann@example.com"}),
			[]string{"<title>登入－聊天</title>", "<h1>聊天</h1>", "你的名稱", "1 至 32 個字元", "進入聊天室", "新增私人聊天室", "建立私人聊天室", "已透過 Google 登入", "使用中的聊天室", "<small>1 人</small>", "私人 · 3 人", ">私訊</h2>"},
			[]string{"Pick a name", "Your name", "characters", "Letters", "Enter the room", "New private room", "Create the", "Rooms in use", "person", "people", "private ·", "Direct messages", "Signed in with"}},
		{"provider", SignIn(SignInForm{Provider: "Google"}),
			[]string{"本聊天服務僅供透過 Google 登入", "使用 Google 登入"},
			[]string{"This chat", "Sign in with"}},
		{"unlisted", SignIn(SignInForm{Unlisted: true}),
			[]string{"建立不公開聊天室", "請只把連結分享給"},
			[]string{"Create an unlisted", "made up for you"}},
		{"directory", Directory(nil),
			[]string{"<title>聊天室列表－聊天</title>", "目前沒有使用中的聊天室", `<a href="/">登入</a>`},
			[]string{"Rooms", "No rooms", "Sign in"}},
		{"signed out", RoomListSignedOut(),
			[]string{`<a href="/">登入</a>後即可檢視使用中的聊天室。`},
			[]string{"Sign in", "to see"}},
		{"sign in again", SignInAgainOOB("r1", "why"),
			[]string{">重新登入</a>。"},
			[]string{"Sign in again"}},
		{"unavailable", AvailabilityOOB(false),
			[]string{"目前無法傳送"},
			[]string{"Sending is unavailable"}},
		{"scrollback", ScrollbackOOB("r1", nil, 5, "why", Viewer{}),
			[]string{">重試</a>"},
			[]string{"Try again"}},
		{"edit", EditPage(ChangePage{Room: "r1", Seq: 2, Text: "hi"}),
			[]string{"<title>編輯訊息－r1－聊天</title>", "編輯你的訊息", "你在 #r1 的訊息", ">儲存</button>", ">取消</a>"},
			[]string{"Edit your message", "Your message", "Save", "Cancel"}},
		{"delete", DeletePage(ChangePage{Room: "r<1>", Seq: 2, Text: "hi"}),
			[]string{"要刪除這則訊息嗎？", "#r&lt;1&gt; 裡的所有人", "「訊息已刪除。」", ">刪除</button>"},
			[]string{"Delete", "gone for everyone", "Message deleted", "Cancel", "r<1>"}},
		{"react", ReactionPage(ReactPage{Room: "r1", Seq: 2, Name: "Ann", Text: "hi"}),
			[]string{"<title>為訊息加上回應－r1－聊天</title>", `為 <span dir="auto">Ann</span> 的訊息加上回應`, "快速回應", `aria-label="以 👍 回應"`, "自選一個表情符號", ">加上回應</button>", "返回聊天室"},
			[]string{"React", "’s message", "Quick reactions", "Any one emoji", "Back to the room"}},
	} {
		got := renderIn(t, i18n.TraditionalChinese, c.c)
		for _, s := range c.zh {
			if !strings.Contains(got, s) {
				t.Errorf("%s: no %q in %s", c.name, s, got)
			}
		}
		for _, s := range c.english {
			if strings.Contains(got, s) {
				t.Errorf("%s: English %q left in %s", c.name, s, got)
			}
		}
	}
}

// In English the pages say what they said before the catalogs, quotation
// marks as written.
func TestViewsInEnglish(t *testing.T) {
	for _, c := range []struct {
		c    templ.Component
		want string
	}{
		{RoomListSignedOut(), `<ul id="rooms" class="rooms" aria-labelledby="rooms-heading"><li class="none"><a href="/">Sign in</a> to see the rooms in use.</li></ul>`},
		{SignInAgainOOB("r1", "Your session has ended."), `<p>Your session has ended. <a href="/?room=r1">Sign in again</a>.</p>`},
		{DeletePage(ChangePage{Room: "r1"}), `<p>It will be gone for everyone in #r1: the room shows "Message deleted." in its place.</p>`},
		{DeletePage(ChangePage{Room: "r1"}), `<title>Delete this message? — r1 — Chat</title>`},
		{ReactionPage(ReactPage{Room: "r1", Name: "Ann"}), `<h1>React to <span dir="auto">Ann</span>’s message</h1>`},
		{RoomList([]RoomCount{{Room: "a", Members: 1}, {Room: "b", Members: 2, Private: true}}, ""), `<small>1 person</small></li><li data-room="b" data-members="2"><a href="/rooms/b">#b</a> <small>private · 2 people</small>`},
	} {
		if got := renderIn(t, i18n.English, c.c); !strings.Contains(got, c.want) {
			t.Errorf("no %s in %s", c.want, got)
		}
	}
}

// Every message these views name is in the catalogs of every language.
func TestViewsMessagesInCatalogs(t *testing.T) {
	call := regexp.MustCompile(`\b[tn]\(ctx, "([^"]+)"`)
	for _, file := range []string{"signin.templ", "fragments.templ", "change.templ", "reactions.templ"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			for _, l := range i18n.Langs() {
				if !slices.Contains(i18n.Default().IDs(l), string(m[1])) {
					t.Errorf("%s: %q is in no %s catalog", file, m[1], l)
				}
			}
		}
	}
}
