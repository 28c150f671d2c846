package handlers

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
)

// A reader whose browser asks for Traditional Chinese is refused in it.
func TestSignInRefusedInChinese(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/signin", strings.NewReader(url.Values{"name": {""}, "room": {"r"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "zh-TW,zh;q=0.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := "請輸入名稱。"; resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), want) {
		t.Fatalf("POST /signin without a name, in zh-TW: %d, want 422 with %q in\n%s", resp.StatusCode, want, body)
	}
}

// Every row of docs/SPEC.md's table of refusals quotes, in English and in
// Chinese, exactly what the server says; and every refusal of realtime's
// rules has its row.
func TestSPECRefusalTable(t *testing.T) {
	en := context.Background()
	zh := i18n.WithPrinter(en, i18n.Default().Printer(i18n.TraditionalChinese))
	says := map[string]func(context.Context) string{} // by its English sentence
	add := func(f func(context.Context) string) { says[f(en)] = f }
	rules := []error{
		realtime.ErrNameNotText, realtime.ErrNameControl, realtime.ErrNameEmpty, realtime.ErrNameTooLong,
		realtime.ErrNameInvisible, realtime.ErrNameUnseen, realtime.ErrRoomEmpty, realtime.ErrRoomTooLong,
		realtime.ErrRoomAlphabet, realtime.ErrRoomReserved, realtime.ErrTextNotText, realtime.ErrTextEmpty,
		realtime.ErrTextTooLong, realtime.ErrTextControl, realtime.ErrTextTooTall, realtime.ErrInvalidEmoji,
		realtime.ErrTooManyReactions,
	}
	for _, err := range rules {
		add(func(ctx context.Context) string { return refusal(ctx, err) })
	}
	for _, f := range []func(context.Context) string{
		nameTaken, notYours, noMessage, noReaction, noOriginal, unreadable,
		func(ctx context.Context) string { return validateNonce(ctx, strings.Repeat("n", maxNonce+1)) },
		func(ctx context.Context) string { return i18n.T(ctx, "refusal.slow_down") },
		func(ctx context.Context) string { return i18n.T(ctx, "refusal.too_many_rooms") },
		func(ctx context.Context) string { return i18n.T(ctx, "refusal.name_bound") },
		func(ctx context.Context) string { return i18n.T(ctx, "refusal.name_held") },
		func(ctx context.Context) string { return i18n.T(ctx, "refusal.too_large_frame") },
		func(ctx context.Context) string { return i18n.T(ctx, "refusal.not_text") },
	} {
		add(f)
	}

	spec, err := os.ReadFile("../docs/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(spec), "\n| refused | message shown | 繁體中文 |\n|---|---|---|\n")
	if !ok {
		t.Fatal(`docs/SPEC.md has no table "| refused | message shown | 繁體中文 |"`)
	}
	quotedEN, quotedZH := regexp.MustCompile(`"([^"]+)"`), regexp.MustCompile(`「([^」]+)」`)
	shown := map[string]bool{}
	for row := range strings.SplitSeq(table, "\n") {
		if !strings.HasPrefix(row, "|") {
			break
		}
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		if len(cells) != 3 {
			t.Errorf("row %q: want 3 cells", row)
			continue
		}
		ens, zhs := quotedEN.FindAllStringSubmatch(cells[1], -1), quotedZH.FindAllStringSubmatch(cells[2], -1)
		if len(ens) == 0 || len(ens) != len(zhs) {
			t.Errorf("row %q: %d English sentences, %d Chinese", cells[0], len(ens), len(zhs))
			continue
		}
		for i, m := range ens {
			f, ok := says[m[1]]
			if !ok {
				t.Errorf("row %q quotes %q, which the server does not say", cells[0], m[1])
				continue
			}
			shown[m[1]] = true
			if want := f(zh); zhs[i][1] != want {
				t.Errorf("row %q: %q is %q in Chinese, the table says %q", cells[0], m[1], want, zhs[i][1])
			}
		}
	}
	for _, err := range rules {
		if s := refusal(en, err); !shown[s] {
			t.Errorf("docs/SPEC.md's table of refusals has no row for %q (%v)", s, err)
		}
	}
}
