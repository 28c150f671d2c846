package handlers

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"math"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chatrun/chat/static"
	"github.com/chatrun/chat/views"
)

// appGet fetches path from ts with Accept-Language lang and returns the
// response and its body.
func appGet(t *testing.T, base, path, lang string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// The manifest has every member an installable app needs, in the
// reader's language, and lists the icons that are there.
func TestManifest(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	for _, c := range []struct{ accept, lang, name, about string }{
		{"", "en", "Chat", "Real-time chat rooms"},
		{"zh-TW,zh;q=0.9", "zh-Hant-TW", "聊天", "即時聊天室"},
	} {
		res, body := appGet(t, ts.URL, "/manifest.webmanifest", c.accept)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", c.lang, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/manifest+json" {
			t.Errorf("%s: Content-Type %q", c.lang, ct)
		}
		if !strings.Contains(res.Header.Get("Vary"), "Accept-Language") || res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: Vary %q, Cache-Control %q: a cache would keep one language", c.lang, res.Header.Get("Vary"), res.Header.Get("Cache-Control"))
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v\n%s", c.lang, err, body)
		}
		want := map[string]string{
			"name": c.name, "short_name": c.name, "lang": c.lang, "start_url": "/", "scope": "/",
			"display": "standalone", "background_color": views.ThemeLight, "theme_color": views.ThemeLight, "id": "/",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s is %v, want %q", c.lang, k, m[k], v)
			}
		}
		if d, _ := m["description"].(string); !strings.HasPrefix(d, c.about) {
			t.Errorf("%s: description %q", c.lang, d)
		}
		var icons []manifestIcon
		raw, _ := json.Marshal(m["icons"])
		if err := json.Unmarshal(raw, &icons); err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, ic := range icons {
			seen = append(seen, ic.Sizes+" "+ic.Purpose)
			var w, h int
			if _, err := fmt.Sscanf(ic.Sizes, "%dx%d", &w, &h); err != nil || ic.Type != "image/png" {
				t.Errorf("icon %+v: sizes or type", ic)
				continue
			}
			res, body := appGet(t, ts.URL, ic.Src, "")
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
				t.Errorf("%s: status %d, Content-Type %q", ic.Src, res.StatusCode, res.Header.Get("Content-Type"))
				continue
			}
			img, err := png.Decode(strings.NewReader(string(body)))
			if err != nil {
				t.Errorf("%s: %v", ic.Src, err)
				continue
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("%s is %dx%d, the manifest says %s", ic.Src, b.Dx(), b.Dy(), ic.Sizes)
			}
		}
		if got := strings.Join(seen, ", "); got != "192x192 any, 512x512 any, 512x512 maskable" {
			t.Errorf("icons: %s", got)
		}
	}
}

// The maskable icon fills its square (a mask may show any of it) and
// draws nothing outside the safe zone, the centred circle of 40 % of its
// size in radius, that every mask keeps.
func TestMaskableIconSafeZone(t *testing.T) {
	img := decodeIcon(t, "icons/icon-maskable-512.png")
	b := img.Bounds()
	bg := img.At(0, 0)
	if _, _, _, a := bg.RGBA(); a != 0xffff {
		t.Fatal("the maskable icon's background is not opaque")
	}
	c := float64(b.Dx()) / 2
	drawn := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			px := img.At(x, y)
			if _, _, _, a := px.RGBA(); a != 0xffff {
				t.Fatalf("pixel (%d, %d) is not opaque", x, y)
			}
			if px == bg {
				continue
			}
			drawn++
			// The pixel's farthest corner from the centre.
			dx := math.Max(math.Abs(float64(x)-c), math.Abs(float64(x+1)-c))
			dy := math.Max(math.Abs(float64(y)-c), math.Abs(float64(y+1)-c))
			if math.Hypot(dx, dy) > 0.4*float64(b.Dx()) {
				t.Fatalf("pixel (%d, %d) is drawn outside the safe zone", x, y)
			}
		}
	}
	if drawn < b.Dx()*b.Dy()/10 {
		t.Errorf("only %d pixels drawn: the bubble is missing", drawn)
	}
}

// The badge is a silhouette: white where it is drawn, which Android uses
// as a mask.
func TestBadgeIcon(t *testing.T) {
	img := decodeIcon(t, "icons/badge-96.png")
	if b := img.Bounds(); b.Dx() != 96 || b.Dy() != 96 {
		t.Fatalf("badge is %v", b)
	}
	opaque := 0
	for y := range 96 {
		for x := range 96 {
			r, g, bl, a := img.At(x, y).RGBA()
			if a == 0xffff {
				opaque++
				if r != 0xffff || g != 0xffff || bl != 0xffff {
					t.Fatalf("badge pixel (%d, %d) is not white", x, y)
				}
			}
		}
	}
	if opaque == 0 {
		t.Error("the badge draws nothing")
	}
}

func decodeIcon(t *testing.T, name string) image.Image {
	t.Helper()
	f, err := static.FS.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

// The theme colours are the stylesheet's backgrounds, light and dark.
func TestThemeColorsMatchStylesheet(t *testing.T) {
	css, err := fs.ReadFile(static.FS, "chat.css")
	if err != nil {
		t.Fatal(err)
	}
	bgs := regexp.MustCompile(`--bg: (#[0-9a-f]{6});`).FindAllStringSubmatch(string(css), -1)
	if len(bgs) != 2 || bgs[0][1] != views.ThemeLight || bgs[1][1] != views.ThemeDark {
		t.Errorf("chat.css's --bg are %v; views says %s and %s", bgs, views.ThemeLight, views.ThemeDark)
	}
}

// Every page links the manifest, says both theme colours and loads the
// script that registers the worker; the worker and the offline page are
// served as the SPEC says.
func TestAppRoutes(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	_, page := appGet(t, ts.URL, "/", "")
	for _, want := range []string{
		`<link rel="manifest" href="/manifest.webmanifest" crossorigin="use-credentials">`,
		`<meta name="theme-color" media="(prefers-color-scheme: light)" content="` + views.ThemeLight + `">`,
		`<meta name="theme-color" media="(prefers-color-scheme: dark)" content="` + views.ThemeDark + `">`,
		`<script src="/static/app.js" defer></script>`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the sign-in page lacks %s", want)
		}
	}

	res, body := appGet(t, ts.URL, "/sw.js", "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("/sw.js: status %d, Content-Type %q, Cache-Control %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	if src, _ := fs.ReadFile(static.FS, "sw.js"); string(body) != string(src) {
		t.Error("/sw.js is not static/sw.js")
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "manifest-src 'self'") || !strings.Contains(csp, "worker-src 'self'") {
		t.Errorf("CSP %q", csp)
	}

	for _, c := range []struct{ accept, lang, heading string }{
		{"", "en", "The chat is offline"},
		{"zh-TW", "zh-Hant-TW", "聊天目前離線"},
	} {
		res, body := appGet(t, ts.URL, "/offline", c.accept)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || res.Header.Get("Content-Language") != c.lang {
			t.Errorf("/offline %s: status %d, Content-Type %q, Content-Language %q", c.lang, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Language"))
		}
		for _, want := range []string{`<html lang="` + c.lang + `">`, `<main id="offline"`, "<h1>" + c.heading + "</h1>", `<a id="offline-retry" href="/">`, `/static/app.js`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/offline %s lacks %s", c.lang, want)
			}
		}
		// Nothing on it needs the network: no htmx, no form.
		for _, bad := range []string{"htmx", "<form"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("/offline %s has %s", c.lang, bad)
			}
		}
	}
}
