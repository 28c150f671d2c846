package files_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/files/filestest"
)

// BenchmarkUpload10MiB uploads 10 MiB of no known type to a diskstore:
// B/op is what streaming costs (the file itself is never held).
func BenchmarkUpload10MiB(b *testing.B) {
	e := newDisk(b, files.Limits{})
	data := filestest.Big(10 << 20)
	ctx := ctxFor(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		info, err := e.svc.Upload(ctx, "room", "owner", "big.bin", "", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := e.svc.Delete(ctx, info.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkUpload12MPJPEG uploads a 4000×3000 photo to a diskstore:
// stripping, storing, reading back, decoding, scaling, encoding the
// thumbnail.
func BenchmarkUpload12MPJPEG(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for y := range 3000 {
		for x := range 4000 {
			m.Y[y*m.YStride+x] = uint8((x*7 + y*3 + (x*y)%17) & 0xff)
		}
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i%200), uint8(i%120)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	// With the EXIF (orientation, GPS) of the fixture.
	g := filestest.JPEGWithGPS()
	exif := g[2 : 2+2+(int(g[4])<<8|int(g[5]))]
	data := append(append(append([]byte{}, buf.Bytes()[:2]...), exif...), buf.Bytes()[2:]...)
	e := newDisk(b, files.Limits{MaxBytes: 64 << 20})
	ctx := ctxFor(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ReportMetric(float64(len(data))/(1<<20), "MiB/file")
	for b.Loop() {
		info, err := e.svc.Upload(ctx, "room", "owner", "photo.jpg", "image/jpeg", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if info.Width != 270 || info.Height != 360 {
			b.Fatalf("thumbnail %d×%d", info.Width, info.Height)
		}
		b.StopTimer()
		if err := e.svc.Delete(ctx, info.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
