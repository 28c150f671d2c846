package files

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// maxHeader is how far into a picture (after filtering) its header may
// lie: the JPEG segments before the frame header (EXIF, ICC profile) are
// held until it is read. Real pictures need a few KiB, rarely 100.
const maxHeader = 256 << 10

var errHeaderTooFar = errors.New("files: picture header too far from the start")

// recorder keeps what is read through it, up to max bytes, so that the
// header read to decide on a picture can be stored with the rest.
type recorder struct {
	r   io.Reader
	buf []byte
	max int
}

func (r *recorder) Read(p []byte) (int, error) {
	if len(r.buf) >= r.max {
		return 0, errHeaderTooFar
	}
	p = p[:min(len(p), r.max-len(r.buf))]
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// errKeeper remembers the first error other than io.EOF read through it,
// so that a filter's verdict survives however a store reports it.
type errKeeper struct {
	r   io.Reader
	err error
}

func (e *errKeeper) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func decodeConfig(k kind, r io.Reader) (image.Config, error) {
	switch k {
	case kindPNG:
		return png.DecodeConfig(r)
	case kindJPEG:
		return jpeg.DecodeConfig(r)
	case kindGIF:
		return gif.DecodeConfig(r)
	case kindWebP:
		return webp.DecodeConfig(r)
	}
	return image.Config{}, errBadPicture
}

func decodeImage(k kind, r io.Reader) (image.Image, error) {
	switch k {
	case kindPNG:
		return png.Decode(r)
	case kindJPEG:
		return jpeg.Decode(r)
	case kindGIF:
		// The first frame only: an animation's thumbnail is still.
		return gif.Decode(r)
	case kindWebP:
		return webp.Decode(r)
	}
	return nil, errBadPicture
}

// notPicture is ErrNotPicture with why, for the log.
func notPicture(err error) error {
	return fmt.Errorf("%w (%v)", ErrNotPicture, err)
}

// uploadPicture stores a picture: its header is read (and judged) from
// the filtered stream, the whole is stored as it streams, and the
// thumbnail is made from the stored file.
func (s *Service) uploadPicture(ctx context.Context, k kind, room, owner, name string, br *bufio.Reader, lim *limitReader) (Info, error) {
	f := newFilter(k, br)
	keep := &errKeeper{r: f}
	rec := &recorder{r: keep, max: maxHeader}
	cfg, err := decodeConfig(k, rec)
	if err != nil {
		if lim.err != nil {
			return Info{}, lim.err
		}
		if keep.err != nil && !errors.Is(keep.err, errBadPicture) {
			return Info{}, keep.err
		}
		return Info{}, notPicture(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, notPicture(errors.New("no pixels"))
	}
	if int64(cfg.Width)*int64(cfg.Height) > s.limits.MaxPixels {
		return Info{}, ErrTooManyPixels
	}
	orient := f.orientation()
	tw, th := s.thumbSize(cfg.Width, cfg.Height, orient)
	info := Info{
		ID: rand.Text(), Name: name, Type: k.mediaType(),
		Image: true, Width: tw, Height: th,
		Room: room, Owner: owner, Created: s.now().UTC(),
	}
	cr := &countReader{r: io.MultiReader(bytes.NewReader(rec.buf), keep)}
	rec.buf = nil
	if err := s.store.Create(ctx, info, Original, cr); err != nil {
		switch {
		case lim.err != nil:
			return Info{}, lim.err
		case errors.Is(keep.err, errBadPicture):
			return Info{}, notPicture(keep.err)
		}
		return Info{}, fmt.Errorf("files: storing %s: %w", info.ID, err)
	}
	info.Size = cr.n
	if err := s.thumbnail(ctx, k, info, cfg, orient); err != nil {
		s.undo(ctx, info.ID)
		return Info{}, err
	}
	return info, nil
}

// thumbSize is the size of the thumbnail of a w×h picture shown turned by
// EXIF orientation orient: inside the limits, never larger than itself.
func (s *Service) thumbSize(w, h, orient int) (int, int) {
	if orient >= 5 {
		w, h = h, w
	}
	mw, mh := s.limits.ThumbWidth, s.limits.ThumbHeight
	if w <= mw && h <= mh {
		return w, h
	}
	// Integer arithmetic, rounded, so that the same sizes come out of
	// the header now and the decoded picture later.
	if int64(w)*int64(mh) >= int64(h)*int64(mw) {
		return mw, max(1, int((int64(h)*int64(mw)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(mh)+int64(h)/2)/int64(h))), mh
}

// thumbnail decodes stored picture info.ID (one at a time per Service) and
// stores its thumbnail: JPEG, or PNG when the picture has transparency.
func (s *Service) thumbnail(ctx context.Context, k kind, info Info, cfg image.Config, orient int) error {
	select {
	case s.decode <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	small, opaque, err := s.scale(ctx, k, info, cfg, orient)
	<-s.decode
	if err != nil {
		return err
	}
	out := orientImage(small, orient)
	var buf bytes.Buffer
	thumb := info
	thumb.Image, thumb.Width, thumb.Height = true, out.Rect.Dx(), out.Rect.Dy()
	if opaque {
		thumb.Type = "image/jpeg"
		err = jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80})
	} else {
		thumb.Type = "image/png"
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, out)
	}
	if err != nil {
		return fmt.Errorf("files: encoding the thumbnail of %s: %w", info.ID, err)
	}
	thumb.Size = int64(buf.Len())
	if err := s.store.Create(ctx, thumb, Thumb, &buf); err != nil {
		return fmt.Errorf("files: storing the thumbnail of %s: %w", info.ID, err)
	}
	return nil
}

// scale decodes the stored picture and scales it to the thumbnail's size,
// still in stored orientation; it reports whether it is opaque.
func (s *Service) scale(ctx context.Context, k kind, info Info, cfg image.Config, orient int) (*image.RGBA, bool, error) {
	rc, _, err := s.store.Open(ctx, info.ID, Original)
	if err != nil {
		return nil, false, fmt.Errorf("files: reading %s back: %w", info.ID, err)
	}
	m, err := decodeImage(k, bufio.NewReaderSize(rc, 32<<10))
	rc.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, notPicture(err)
	}
	screen := image.Rect(0, 0, cfg.Width, cfg.Height)
	if m.Bounds() != screen {
		if k != kindGIF || !m.Bounds().In(screen) {
			return nil, false, notPicture(fmt.Errorf("decoded %v, header said %v", m.Bounds(), screen))
		}
		// A GIF's first frame may cover part of its screen.
		c := image.NewRGBA(screen)
		draw.Draw(c, m.Bounds(), m, m.Bounds().Min, draw.Src)
		m = c
	}
	opaque := false
	if o, ok := m.(interface{ Opaque() bool }); ok {
		opaque = o.Opaque()
	}
	tw, th := info.Width, info.Height
	if orient >= 5 {
		tw, th = th, tw
	}
	return shrink(m, tw, th), opaque, nil
}

// shrink scales m to tw×th. CatmullRom's cost and temporary buffer grow
// with the source (34 MB and most of the time for a 12 MP photo), so a
// large picture is first brought to four times the size with the cheap
// ApproxBiLinear, which at that ratio barely aliases.
func shrink(m image.Image, tw, th int) *image.RGBA {
	b := m.Bounds()
	if b.Dx() > 8*tw && b.Dy() > 8*th {
		mid := image.NewRGBA(image.Rect(0, 0, 4*tw, 4*th))
		draw.ApproxBiLinear.Scale(mid, mid.Rect, m, b, draw.Src, nil)
		m, b = mid, mid.Rect
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.CatmullRom.Scale(dst, dst.Rect, m, b, draw.Src, nil)
	return dst
}

// orientImage turns m as EXIF orientation o says it is to be shown.
func orientImage(m *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return m
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		for x := range dw {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			out.SetRGBA(x, y, m.RGBAAt(sx, sy))
		}
	}
	return out
}
