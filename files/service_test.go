package files_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/files/diskstore"
	"github.com/chatrun/chat/files/filestest"
	"github.com/chatrun/chat/files/gcsstore"
)

func TestMain(m *testing.M) {
	// The storage library imports OpenCensus, whose init starts a worker
	// that never ends.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// env is a Service over one kind of store, and what that store holds.
type env struct {
	svc   *files.Service
	store files.Store
	list  func() []string
}

func newDisk(t testing.TB, limits files.Limits) env {
	dir := t.TempDir()
	s, err := diskstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return env{files.NewService(s, limits, testLog(t)), s, func() []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}}
}

func newGCS(t testing.TB, limits files.Limits) env {
	_, client, bucket := filestest.FakeGCS(t)
	s := gcsstore.New(client, bucket)
	return env{files.NewService(s, limits, testLog(t)), s, func() []string { return filestest.Objects(t, client, bucket) }}
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// both runs test against a Service over each store.
func both(t *testing.T, limits files.Limits, test func(t *testing.T, e env)) {
	t.Run("disk", func(t *testing.T) { test(t, newDisk(t, limits)) })
	t.Run("gcs", func(t *testing.T) { test(t, newGCS(t, limits)) })
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func read(t testing.TB, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRefusals(t *testing.T) {
	png100 := filestest.PNG(100, 100)
	jpg := filestest.JPEGWithGPS()
	for _, c := range []struct {
		test, name, declared string
		body                 []byte
		want                 error
	}{
		{"empty", "a.txt", "text/plain", nil, files.ErrEmpty},
		{"too large", "big.bin", "", filestest.Big(1<<20 + 1), files.ErrTooLarge},
		{"too large picture", "big.png", "image/png", append(filestest.PNG(600, 600), filestest.Big(1<<20)...), files.ErrTooLarge},
		{"page as picture", "cat.png", "image/png", filestest.HTMLAsPNG(), files.ErrActiveContent},
		{"page", "page.txt", "text/plain", filestest.HTMLAsPNG(), files.ErrActiveContent},
		{"svg by content", "drawing.txt", "text/plain", filestest.SVGWithScript(), files.ErrActiveContent},
		{"svg by name", "drawing.svg", "image/svg+xml", []byte("just text"), files.ErrActiveContent},
		{"xml", "data.dat", "", []byte("<?xml version=\"1.0\"?><a/>"), files.ErrActiveContent},
		{"picture as page", "cat.html", "text/html", png100, files.ErrActiveContent},
		{"text as picture", "cat.png", "", []byte("hello, world"), files.ErrNotPicture},
		{"pdf declared picture", "cat", "image/jpeg", filestest.PDF(), files.ErrNotPicture},
		{"bomb", "bomb.png", "image/png", filestest.PNGBomb(30000, 30000), files.ErrTooManyPixels},
		{"truncated png", "cut.png", "image/png", png100[:300], files.ErrNotPicture},
		{"truncated jpeg", "cut.jpg", "image/jpeg", jpg[:len(jpg)/2], files.ErrNotPicture},
		{"png header only", "head.png", "image/png", png100[:40], files.ErrNotPicture},
	} {
		t.Run(c.test, func(t *testing.T) {
			both(t, files.Limits{MaxBytes: 1 << 20}, func(t *testing.T, e env) {
				info, err := e.svc.Upload(ctxFor(t), "room", "owner", c.name, c.declared, bytes.NewReader(c.body))
				if !errors.Is(err, c.want) {
					t.Errorf("Upload = %+v, %v; want %v", info, err, c.want)
				}
				if l := e.list(); len(l) != 0 {
					t.Errorf("stored after a refusal: %q", l)
				}
			})
		})
	}
}

func TestJPEGWithGPS(t *testing.T) {
	orig := filestest.JPEGWithGPS()
	if !filestest.HasGPS(orig) {
		t.Fatal("the fixture has no GPS")
	}
	both(t, files.Limits{}, func(t *testing.T, e env) {
		ctx := ctxFor(t)
		info, err := e.svc.Upload(ctx, "room", "owner", "../DCIM/photo.jpg", "image/jpeg", bytes.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		if info.Type != "image/jpeg" || !info.Image || info.Width != 270 || info.Height != 360 || info.Name != "photo.jpg" || info.Room != "room" || info.Owner != "owner" {
			t.Errorf("Upload = %+v", info)
		}
		st, err := e.svc.Stat(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Created.Equal(info.Created) {
			t.Errorf("Stat.Created %v, Upload's %v", st.Created, info.Created)
		}
		st.Created = info.Created
		if st != info {
			t.Errorf("Stat = %+v\nUpload = %+v", st, info)
		}
		rc, oi, err := e.svc.Open(ctx, info.ID, files.Original)
		if err != nil {
			t.Fatal(err)
		}
		stored := read(t, rc)
		if filestest.HasGPS(stored) {
			t.Error("the stored picture still has GPS data")
		}
		if int64(len(stored)) != info.Size || oi.Size != info.Size {
			t.Errorf("stored %d bytes, Info.Size %d, Open's %d", len(stored), info.Size, oi.Size)
		}
		if !bytes.Contains(stored, []byte("Exif\x00\x00")) || !bytes.Contains(stored, []byte("Chatrun")) {
			t.Error("the EXIF segment (orientation, make) was dropped")
		}
		if bytes.Contains(stored, []byte("ns.adobe.com")) {
			t.Error("the XMP segment is still there")
		}
		if _, err := jpeg.Decode(bytes.NewReader(stored)); err != nil {
			t.Errorf("the stored picture does not decode: %v", err)
		}
		rc, ti, err := e.svc.Open(ctx, info.ID, files.Thumb)
		if err != nil {
			t.Fatal(err)
		}
		thumb := read(t, rc)
		if ti.Type != "image/jpeg" || ti.Size != int64(len(thumb)) {
			t.Errorf("Open(Thumb) Info = %+v (%d bytes)", ti, len(thumb))
		}
		m, err := jpeg.Decode(bytes.NewReader(thumb))
		if err != nil {
			t.Fatal(err)
		}
		if b := m.Bounds(); b.Dx() != 270 || b.Dy() != 360 {
			t.Errorf("thumbnail %v, want 270×360", b)
		}
		// Turned a quarter clockwise, the red corner is at the top right.
		if !reddish(m.At(260, 10)) || reddish(m.At(10, 350)) || reddish(m.At(10, 10)) {
			t.Errorf("thumbnail not turned: top right %v, top left %v, bottom left %v", m.At(260, 10), m.At(10, 10), m.At(10, 350))
		}
	})
}

func reddish(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xc000 && g < 0x4000 && b < 0x4000
}

func TestScreenshot(t *testing.T) {
	both(t, files.Limits{}, func(t *testing.T, e env) {
		ctx := ctxFor(t)
		info, err := e.svc.Upload(ctx, "room", "owner", "Screenshot 2024-05-01 at 10.00.00.png", "image/png", bytes.NewReader(filestest.Screenshot()))
		if err != nil {
			t.Fatal(err)
		}
		if info.Type != "image/png" || !info.Image || info.Width != 360 || info.Height != 225 {
			t.Errorf("Upload = %+v", info)
		}
		rc, ti, err := e.svc.Open(ctx, info.ID, files.Thumb)
		if err != nil {
			t.Fatal(err)
		}
		m, err := jpeg.Decode(bytes.NewReader(read(t, rc)))
		if err != nil || ti.Type != "image/jpeg" || m.Bounds().Dx() != 360 || m.Bounds().Dy() != 225 {
			t.Errorf("thumbnail %+v, %v, %v", ti, m.Bounds(), err)
		}
	})
}

func TestTransparentAndSmall(t *testing.T) {
	e := newDisk(t, files.Limits{})
	ctx := ctxFor(t)
	m := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	m.SetNRGBA(1, 1, color.NRGBA{255, 0, 0, 255})
	var b bytes.Buffer
	png.Encode(&b, m)
	info, err := e.svc.Upload(ctx, "r", "o", "dot.png", "", &b)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 40 || info.Height != 30 {
		t.Errorf("a small picture's thumbnail is %d×%d, want 40×30 (never larger)", info.Width, info.Height)
	}
	rc, ti, err := e.svc.Open(ctx, info.ID, files.Thumb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(read(t, rc))); err != nil || ti.Type != "image/png" {
		t.Errorf("a transparent picture's thumbnail: %+v, %v", ti, err)
	}
}

func TestGIF(t *testing.T) {
	e := newDisk(t, files.Limits{})
	ctx := ctxFor(t)
	pal := color.Palette{color.Black, color.White}
	frames := &gif.GIF{Config: image.Config{Width: 720, Height: 100, ColorModel: pal}}
	for i := range 3 {
		f := image.NewPaletted(image.Rect(0, 0, 720, 100), pal)
		f.SetColorIndex(i, i, 1)
		frames.Image = append(frames.Image, f)
		frames.Delay = append(frames.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, frames); err != nil {
		t.Fatal(err)
	}
	info, err := e.svc.Upload(ctx, "r", "o", "anim.gif", "image/gif", &b)
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "image/gif" || info.Width != 360 || info.Height != 50 {
		t.Errorf("Upload = %+v", info)
	}
}

func TestFiles(t *testing.T) {
	both(t, files.Limits{}, func(t *testing.T, e env) {
		ctx := ctxFor(t)
		for _, c := range []struct {
			name, declared string
			body           []byte
			typ, label     string
		}{
			{"report.pdf", "application/pdf", filestest.PDF(), "application/pdf", "PDF"},
			{"notes.txt", "text/plain", []byte("groceries:\n- eggs\n"), "text/plain; charset=utf-8", "TXT"},
			{"data", "", filestest.Big(1000), "application/octet-stream", ""},
			{"photo.heic", "image/heic", filestest.Big(1000), "application/octet-stream", "HEIC"},
		} {
			info, err := e.svc.Upload(ctx, "room", "owner", c.name, c.declared, bytes.NewReader(c.body))
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if info.Type != c.typ || info.Image || info.Size != int64(len(c.body)) || files.Label(info.Type, info.Name) != c.label {
				t.Errorf("%s: %+v, label %q", c.name, info, files.Label(info.Type, info.Name))
			}
			rc, _, err := e.svc.Open(ctx, info.ID, files.Original)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(read(t, rc), c.body) {
				t.Errorf("%s: read back differs", c.name)
			}
			if _, _, err := e.svc.Open(ctx, info.ID, files.Thumb); !errors.Is(err, files.ErrNotFound) {
				t.Errorf("%s: Open(Thumb) = %v, want ErrNotFound", c.name, err)
			}
		}
	})
}

func TestSizeLimit(t *testing.T) {
	both(t, files.Limits{}, func(t *testing.T, e env) {
		ctx := ctxFor(t)
		if got := e.svc.Limits().MaxBytes; got != 10<<20 {
			t.Fatalf("MaxBytes = %d", got)
		}
		big := filestest.Big(10<<20 + 1)
		if _, err := e.svc.Upload(ctx, "r", "o", "big.bin", "", bytes.NewReader(big)); !errors.Is(err, files.ErrTooLarge) {
			t.Errorf("10 MiB + 1: %v, want ErrTooLarge", err)
		}
		if l := e.list(); len(l) != 0 {
			t.Errorf("stored after ErrTooLarge: %q", l)
		}
		info, err := e.svc.Upload(ctx, "r", "o", "big.bin", "", bytes.NewReader(big[:10<<20]))
		if err != nil || info.Size != 10<<20 {
			t.Errorf("10 MiB: %+v, %v", info, err)
		}
	})
}

func TestDefaults(t *testing.T) {
	got := files.NewService(nil, files.Limits{MaxBytes: 5}, nil).Limits()
	if want := (files.Limits{MaxBytes: 5, MaxPixels: 25_000_000, ThumbWidth: 360, ThumbHeight: 360}); got != want {
		t.Errorf("Limits = %+v, want %+v", got, want)
	}
}

// capture keeps the messages logged.
type capture struct {
	slog.Handler
	msgs chan string
}

// Enabled is true at every level: a sweep that changed nothing logs at
// debug, and the tests count sweeps by their lines.
func (c capture) Enabled(context.Context, slog.Level) bool { return true }

func (c capture) Handle(ctx context.Context, r slog.Record) error {
	select {
	case c.msgs <- r.Message:
	default:
	}
	return nil
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	store, err := diskstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := capture{slog.NewTextHandler(io.Discard, nil), make(chan string, 100)}
	svc := files.NewService(store, files.Limits{}, slog.New(log))
	ctx := ctxFor(t)
	old := func(id string) files.Info {
		return files.Info{ID: id, Name: "old.txt", Type: "text/plain", Created: time.Now().Add(-2 * time.Hour)}
	}
	for _, id := range []string{"OLDPENDING", "OLDCLAIMED", "ANCIENT"} {
		i := old(id)
		if id == "ANCIENT" {
			i.Created = time.Now().Add(-100 * time.Hour)
		}
		if err := store.Create(ctx, i, files.Original, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Claim(ctx, "OLDCLAIMED", "g"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Claim(ctx, "ANCIENT", "g"); err != nil {
		t.Fatal(err)
	}
	young, err := svc.Upload(ctx, "r", "o", "young.txt", "", strings.NewReader("new"))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(rctx, 10*time.Millisecond, time.Hour, 72*time.Hour)
	}()
	// Two sweeps: the second began after the first had finished.
	for range 2 {
		select {
		case <-log.msgs:
		case <-ctx.Done():
			t.Fatal("no sweep")
		}
	}
	stop()
	<-done
	for id, want := range map[string]error{"OLDPENDING": files.ErrNotFound, "ANCIENT": files.ErrNotFound, "OLDCLAIMED": nil, young.ID: nil} {
		if _, err := svc.Stat(ctx, id); !errors.Is(err, want) {
			t.Errorf("%s after sweeping: %v, want %v", id, err, want)
		}
	}
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if strings.HasPrefix(n.Name(), "OLDPENDING") || strings.HasPrefix(n.Name(), "ANCIENT") {
			t.Errorf("left: %s", n.Name())
		}
	}
}

func TestRunGCS(t *testing.T) {
	_, client, bucket := filestest.FakeGCS(t)
	store := gcsstore.New(client, bucket)
	log := capture{slog.NewTextHandler(io.Discard, nil), make(chan string, 100)}
	svc := files.NewService(store, files.Limits{}, slog.New(log))
	ctx := ctxFor(t)
	for _, id := range []string{"OLDPENDING", "OLDCLAIMED"} {
		i := files.Info{ID: id, Type: "text/plain", Created: time.Now().Add(-2 * time.Hour)}
		if err := store.Create(ctx, i, files.Original, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Claim(ctx, "OLDCLAIMED", "g"); err != nil {
		t.Fatal(err)
	}
	young, err := svc.Upload(ctx, "r", "o", "young.txt", "", strings.NewReader("new"))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(rctx, 10*time.Millisecond, time.Hour, 0)
	}()
	for range 2 {
		select {
		case <-log.msgs:
		case <-ctx.Done():
			t.Fatal("no sweep")
		}
	}
	stop()
	<-done
	want := []string{"files/OLDCLAIMED", "files/OLDCLAIMED/claim", "files/" + young.ID, "pending/" + young.ID}
	slices.Sort(want)
	if got := filestest.Objects(t, client, bucket); !slices.Equal(got, want) {
		t.Errorf("objects after sweeping: %q, want %q", got, want)
	}
}

func TestCleanName(t *testing.T) {
	long := strings.Repeat("é", 150) + ".pdf"
	for in, want := range map[string]string{
		"photo.jpg":                  "photo.jpg",
		`C:\Users\me\Desktop\a.png`:  "a.png",
		"../../etc/passwd":           "passwd",
		"  . report .pdf. ":          "report .pdf",
		"":                           "file",
		"...":                        "file",
		"dir/":                       "file",
		"gpj.\u202eexe":              "gpj.exe",
		"a\x00b\nc\u2066d\u200f.txt": "abcd.txt",
		"bad\xffutf8.txt":            "badutf8.txt",
		long:                         strings.Repeat("é", 98) + ".pdf",
	} {
		if got := files.CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLabel(t *testing.T) {
	for _, c := range []struct{ typ, name, want string }{
		{"application/pdf", "x.bin", "PDF"},
		{"image/png", "x.jpg", "PNG"},
		{"image/jpeg", "x", "JPEG"},
		{"image/gif", "x", "GIF"},
		{"image/webp", "x", "WebP"},
		{"application/zip", "x", "ZIP"},
		{"application/zip", "report.docx", "DOCX"},
		{"text/plain; charset=utf-8", "notes", "TXT"},
		{"text/plain; charset=utf-8", "data.csv", "CSV"},
		{"application/octet-stream", "song.mp3", "MP3"},
		{"application/octet-stream", "archive.tar.gz", "GZ"},
		{"application/octet-stream", "x.toolongext", ""},
		{"application/octet-stream", "x.ab-c", ""},
		{"application/octet-stream", ".bashrc", ""},
		{"application/octet-stream", "noext", ""},
	} {
		if got := files.Label(c.typ, c.name); got != c.want {
			t.Errorf("Label(%q, %q) = %q, want %q", c.typ, c.name, got, c.want)
		}
	}
}

func TestWebPFilter(t *testing.T) {
	// A WebP whose image data is a stand-in: the filter looks at chunks
	// only.
	exif := filestest.JPEGWithGPS()
	i := bytes.Index(exif, []byte("Exif\x00\x00"))
	tiff := exif[i+6 : i+6+172]
	chunk := func(id string, data []byte) []byte {
		c := append([]byte(id), byte(len(data)), byte(len(data)>>8), byte(len(data)>>16), byte(len(data)>>24))
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	body := slices.Concat(
		chunk("VP8X", []byte{0x0c, 0, 0, 0, 9, 0, 0, 9, 0, 0}),
		chunk("VP8L", []byte{0x2f, 9, 0x40, 2, 0, 1, 2}),
		chunk("EXIF", tiff),
		chunk("XMP ", []byte(`<x:xmpmeta exif:GPSLatitude="48,51.5N"/>`)),
	)
	size := 4 + len(body)
	webp := slices.Concat([]byte("RIFF"), []byte{byte(size), byte(size >> 8), 0, 0}, []byte("WEBP"), body)
	if !filestest.HasGPS(webp) {
		t.Fatal("the fixture has no GPS")
	}
	out, err := io.ReadAll(files.Filter(bytes.NewReader(append(webp, "trailing junk"...))))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(webp) {
		t.Errorf("filtered %d bytes, want %d (the same, without the trailer)", len(out), len(webp))
	}
	if filestest.HasGPS(out) || bytes.Contains(out, []byte("GPS")) {
		t.Errorf("GPS left in %q", out)
	}
	if out[20] != 0 {
		t.Errorf("VP8X flags %#x, want EXIF and XMP bits cleared", out[20])
	}
}

func TestPNGFilter(t *testing.T) {
	p := filestest.PNG(20, 10)
	iend := len(p) - 12
	exifChunk := func(typ string, data []byte) []byte {
		c := append([]byte{byte(len(data) >> 24), byte(len(data) >> 16), byte(len(data) >> 8), byte(len(data))}, typ...)
		c = append(c, data...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	}
	j := filestest.JPEGWithGPS()
	i := bytes.Index(j, []byte("Exif\x00\x00"))
	withGPS := slices.Concat(p[:iend], exifChunk("eXIf", j[i+6:i+6+172]),
		exifChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x exif:GPSLatitude=\"1\"/>")),
		exifChunk("tEXt", []byte("Comment\x00kept")), p[iend:], []byte("<html>trailer"))
	if !filestest.HasGPS(withGPS) {
		t.Fatal("the fixture has no GPS")
	}
	out, err := io.ReadAll(files.Filter(bytes.NewReader(withGPS)))
	if err != nil {
		t.Fatal(err)
	}
	if filestest.HasGPS(out) || bytes.Contains(out, []byte("eXIf")) || bytes.Contains(out, []byte("<html>")) {
		t.Errorf("left: %q", out)
	}
	if !bytes.Contains(out, []byte("Comment\x00kept")) {
		t.Errorf("a harmless text chunk was dropped")
	}
	if _, err := png.Decode(bytes.NewReader(out)); err != nil {
		t.Errorf("filtered PNG: %v", err)
	}
}
