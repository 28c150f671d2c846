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
