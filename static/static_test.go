package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"regexp"
	"testing"
)

// The vendored files are the ones VENDOR.md names, byte for byte.
func TestVendoredFilesMatchVendorMD(t *testing.T) {
	md, err := os.ReadFile("VENDOR.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("\\| `([^`]+)` \\| `[^`]+` \\| `([0-9a-f]{64})` \\|").FindAllSubmatch(md, -1)
	if len(rows) < 2 {
		t.Fatalf("VENDOR.md lists %d files with a sha256, want htmx and hx-ws", len(rows))
	}
	for _, r := range rows {
		data, err := fs.ReadFile(FS, string(r[1]))
		if err != nil {
			t.Fatalf("%s: %v", r[1], err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != string(r[2]) {
			t.Errorf("%s has sha256 %s, VENDOR.md says %s", r[1], got, r[2])
		}
	}
}

// Traditional Chinese draws with the fonts each system ships, and nothing
// is downloaded for it: macOS and iOS (PingFang TC), Windows (Microsoft
// JhengHei), Android, ChromeOS and Linux (Noto Sans CJK TC). A Chinese
// page lists them first, so that Han characters take their Traditional
// forms whatever the system's own language.
func TestFontsCoverTraditionalChinese(t *testing.T) {
	css, err := fs.ReadFile(FS, "chat.css")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`@font-face|url\([^)]*\.(woff2?|ttf|otf)`).Match(css) {
		t.Error("chat.css downloads a font")
	}
	stacks := regexp.MustCompile(`(?s)(:root(?::lang\(zh-Hant\))?) \{[^}]*?font-family:([^;]+);`).FindAllSubmatch(css, -1)
	if len(stacks) != 2 {
		t.Fatalf("chat.css has %d font stacks on :root and :root:lang(zh-Hant), want both", len(stacks))
	}
	for _, s := range stacks {
		for _, font := range []string{`"PingFang TC"`, `"Microsoft JhengHei"`, `"Noto Sans CJK TC"`, `sans-serif`} {
			if !regexp.MustCompile(regexp.QuoteMeta(font)).Match(s[2]) {
				t.Errorf("%s: the font stack lacks %s", s[1], font)
			}
		}
	}
	zh := regexp.MustCompile(`"[^"]+"|[\w-]+`).FindAllString(string(stacks[1][2]), -1)
	if len(zh) == 0 || zh[0] != `"PingFang TC"` {
		t.Errorf("the Chinese page's font stack starts with %v, want the Traditional Chinese fonts first", zh)
	}
}
