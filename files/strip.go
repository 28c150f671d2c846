package files

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// errBadPicture is a picture whose structure the filters cannot follow;
// Upload tells it as ErrNotPicture.
var errBadPicture = errors.New("files: malformed picture")

// newFilter wraps src, a picture of kind k, in a reader that leaves out
// location data as it streams: the JPEG filter keeps one marker segment
// (at most 64 KiB) at a time, the others a chunk header.
func newFilter(k kind, src *bufio.Reader) interface {
	io.Reader
	orientation() int
} {
	switch k {
	case kindJPEG:
		return &jpegFilter{src: src}
	case kindPNG:
		return &pngFilter{src: src}
	case kindWebP:
		return &webpFilter{src: src}
	}
	// GIF carries no EXIF; it passes as it is.
	return plainFilter{src}
}

type plainFilter struct{ io.Reader }

func (plainFilter) orientation() int { return 1 }

// pump is the shared Read of the filters: step produces output into out
// (a slice that stays valid until the next step) or ends with err.
type pump struct {
	out []byte
	err error
}

func (p *pump) read(b []byte, step func() ([]byte, error)) (int, error) {
	// Fill b: the steps' outputs can be a couple of bytes (a stuffed
	// 0xFF in a JPEG scan), and each Read is a write downstream.
	n := 0
	for n < len(b) {
		for len(p.out) == 0 && p.err == nil {
			p.out, p.err = step()
		}
		if len(p.out) == 0 {
			break
		}
		k := copy(b[n:], p.out)
		p.out = p.out[k:]
		n += k
	}
	if n > 0 {
		return n, nil
	}
	return 0, p.err
}

// unexpected makes a short read mid-structure an error of the picture.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", errBadPicture)
	}
	return err
}

// jpegFilter drops XMP (APP1) and Photoshop/IPTC (APP13) segments and the
// MPF index (APP2) whose images it drops with everything after the end of
// the picture (where a ZIP or page could hide too); in the EXIF segment it
// removes the GPS IFD in place, keeping the orientation and everything
// else at their offsets.
type jpegFilter struct {
	src    *bufio.Reader
	pump   pump
	state  int
	seg    []byte
	orient int
	two    [2]byte // a marker or stuffed byte, passed on
}

const (
	jpegStart = iota
	jpegMarkers
	jpegScan
	jpegScanFF
	jpegTrailer
)

func (f *jpegFilter) orientation() int {
	if f.orient == 0 {
		return 1
	}
	return f.orient
}

func (f *jpegFilter) Read(b []byte) (int, error) { return f.pump.read(b, f.step) }

func (f *jpegFilter) step() ([]byte, error) {
	switch f.state {
	case jpegStart:
		var soi [2]byte
		if _, err := io.ReadFull(f.src, soi[:]); err != nil {
			return nil, unexpected(err)
		}
		if soi != [2]byte{0xff, 0xd8} {
			return nil, errBadPicture
		}
		f.state = jpegMarkers
		return []byte{0xff, 0xd8}, nil
	case jpegMarkers:
		c, err := f.src.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		if c != 0xff {
			return nil, fmt.Errorf("%w: no marker", errBadPicture)
		}
		return f.marker()
	case jpegScan:
		// Entropy-coded data: pass it on up to the next 0xFF, which may
		// begin a marker.
		data, err := f.src.ReadSlice(0xff)
		switch {
		case err == nil:
			f.state = jpegScanFF
			return data[:len(data)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			return data, nil
		case errors.Is(err, io.EOF) && len(data) > 0:
			return data, nil
		}
		return nil, unexpected(err)
	case jpegScanFF:
		c, err := f.src.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		switch {
		case c == 0x00 || 0xd0 <= c && c <= 0xd7:
			f.state = jpegScan
			return f.pair(c), nil
		case c == 0xff:
			// Fill byte; the marker is still to come.
			return f.pair(0xff)[:1], nil
		}
		if err := f.src.UnreadByte(); err != nil {
			return nil, err
		}
		return f.marker()
	case jpegTrailer:
		if _, err := io.Copy(io.Discard, f.src); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	return nil, io.EOF
}

// pair is 0xFF, c, in the filter's own two bytes (passed on before the
// next step).
func (f *jpegFilter) pair(c byte) []byte {
	f.two = [2]byte{0xff, c}
	return f.two[:]
}

// marker handles the marker whose 0xFF was just read.
func (f *jpegFilter) marker() ([]byte, error) {
	m, err := f.src.ReadByte()
	for err == nil && m == 0xff {
		m, err = f.src.ReadByte()
	}
	if err != nil {
		return nil, unexpected(err)
	}
	switch {
	case m == 0xd9:
		f.state = jpegTrailer
		return f.pair(0xd9), nil
	case m == 0x01 || 0xd0 <= m && m <= 0xd7:
		return f.pair(m), nil
	case m == 0xd8 || m == 0x00:
		return nil, fmt.Errorf("%w: marker %#x out of place", errBadPicture, m)
	}
	var l [2]byte
	if _, err := io.ReadFull(f.src, l[:]); err != nil {
		return nil, unexpected(err)
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n < 2 {
		return nil, fmt.Errorf("%w: segment length", errBadPicture)
	}
	if cap(f.seg) < 4+n-2 {
		f.seg = make([]byte, 0, 4+65535)
	}
	seg := f.seg[:4+n-2]
	seg[0], seg[1], seg[2], seg[3] = 0xff, m, l[0], l[1]
	if _, err := io.ReadFull(f.src, seg[4:]); err != nil {
		return nil, unexpected(err)
	}
	payload := seg[4:]
	switch m {
	case 0xda: // SOS: the scan's data follows.
		f.state = jpegScan
	case 0xe1: // APP1: EXIF or XMP.
		switch {
		case bytes.HasPrefix(payload, []byte("Exif\x00\x00")):
			o, err := stripEXIF(payload[6:])
			if err != nil {
				// EXIF that cannot be followed cannot be cleaned.
				return nil, nil
			}
			if f.orient == 0 {
				f.orient = o
			}
		case bytes.HasPrefix(payload, []byte("http://ns.adobe.com/")):
			return nil, nil
		}
	case 0xe2: // APP2: ICC profile (kept) or MPF index (dropped).
		if bytes.HasPrefix(payload, []byte("MPF\x00")) {
			return nil, nil
		}
	case 0xed: // APP13: Photoshop resources, IPTC (places by name).
		return nil, nil
	}
	return seg, nil
}

// stripEXIF removes the GPS IFD from a TIFF structure in place: the IFD's
// entry pointing to it leaves its directory (the entries after it move up,
// the directory's end is zeroed), and the GPS directory and its values are
// zeroed. It returns the orientation (1 when none).
func stripEXIF(t []byte) (int, error) {
	if len(t) < 8 {
		return 0, errBadPicture
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, errBadPicture
	}
	orient := 1
	ifd := int(bo.Uint32(t[4:8]))
	for i := 0; i < 2 && ifd != 0; i++ { // IFD0 (the picture) and IFD1 (its thumbnail)
		next, o, err := stripIFD(t, bo, ifd)
		if err != nil {
			return 0, err
		}
		if i == 0 && o != 0 {
			orient = o
		}
		ifd = next
	}
	if orient < 1 || orient > 8 {
		orient = 1
	}
	return orient, nil
}

const (
	tagOrientation = 0x0112
	tagGPSIFD      = 0x8825
)

// tiffSize is the size in bytes of one value of TIFF type typ, 0 when
// the type is unknown.
func tiffSize(typ int) int {
	switch typ {
	case 1, 2, 6, 7:
		return 1
	case 3, 8:
		return 2
	case 4, 9, 11, 13:
		return 4
	case 5, 10, 12:
		return 8
	}
	return 0
}

func stripIFD(t []byte, bo binary.ByteOrder, off int) (next, orient int, err error) {
	if off < 8 || off+2 > len(t) {
		return 0, 0, errBadPicture
	}
	n := int(bo.Uint16(t[off:]))
	end := off + 2 + 12*n
	if end+4 > len(t) {
		return 0, 0, errBadPicture
	}
	for i := 0; i < n; i++ {
		e := t[off+2+12*i:]
		switch bo.Uint16(e) {
		case tagOrientation:
			if bo.Uint16(e[2:]) == 3 { // SHORT
				orient = int(bo.Uint16(e[8:]))
			}
		case tagGPSIFD:
			gps := int(bo.Uint32(e[8:]))
			blankIFD(t, bo, gps)
			// Move the later entries and the next-IFD offset up one
			// entry, and zero the freed entry at the end.
			copy(t[off+2+12*i:], t[off+2+12*(i+1):end+4])
			clear(t[end-8 : end+4])
			n--
			end -= 12
			bo.PutUint16(t[off:], uint16(n))
			i--
		}
	}
	return int(bo.Uint32(t[end:])), orient, nil
}

// blankIFD zeroes the IFD at off and the values its entries point to,
// leaving whatever is out of bounds alone.
func blankIFD(t []byte, bo binary.ByteOrder, off int) {
	if off < 8 || off+2 > len(t) {
		return
	}
	n := int(bo.Uint16(t[off:]))
	end := min(off+2+12*n+4, len(t))
	for i := 0; i < n && off+2+12*(i+1) <= len(t); i++ {
		e := t[off+2+12*i:]
		typ, count := int(bo.Uint16(e[2:])), int64(bo.Uint32(e[4:]))
		size := int64(tiffSize(typ)) * count
		if size > 4 {
			v := int64(bo.Uint32(e[8:]))
			if v >= 8 && v+size <= int64(len(t)) {
				clear(t[v : v+size])
			}
		}
	}
	clear(t[off:end])
}

// pngFilter drops the eXIf chunk and the text chunks that carry EXIF or
// XMP (XML:com.adobe.xmp, ImageMagick's "Raw profile type …"), and
// whatever follows IEND. Chunks are streamed, not held.
type pngFilter struct {
	src   *bufio.Reader
	pump  pump
	state int
	left  int64 // bytes of the current chunk (and its CRC) to pass on
	hdr   [8]byte
}

const (
	pngStart = iota
	pngChunk
	pngPass
	pngTrailer
)

func (f *pngFilter) orientation() int { return 1 }

func (f *pngFilter) Read(b []byte) (int, error) { return f.pump.read(b, f.step) }

func (f *pngFilter) step() ([]byte, error) {
	switch f.state {
	case pngStart:
		if _, err := io.ReadFull(f.src, f.hdr[:]); err != nil {
			return nil, unexpected(err)
		}
		f.state = pngChunk
		return f.hdr[:], nil
	case pngChunk:
		if _, err := io.ReadFull(f.src, f.hdr[:]); err != nil {
			return nil, unexpected(err)
		}
		n := int64(binary.BigEndian.Uint32(f.hdr[:4]))
		if n > 1<<31-1 {
			return nil, fmt.Errorf("%w: chunk length", errBadPicture)
		}
		typ := string(f.hdr[4:8])
		drop := typ == "eXIf"
		if typ == "tEXt" || typ == "zTXt" || typ == "iTXt" {
			kw, err := f.src.Peek(int(min(n, 80)))
			if err != nil {
				return nil, unexpected(err)
			}
			if i := bytes.IndexByte(kw, 0); i >= 0 {
				kw = kw[:i]
			}
			drop = string(kw) == "XML:com.adobe.xmp" || bytes.HasPrefix(bytes.ToLower(kw), []byte("raw profile type"))
		}
		if drop {
			if _, err := f.src.Discard(int(n + 4)); err != nil {
				return nil, unexpected(err)
			}
			return nil, nil
		}
		f.left = n + 4
		if typ == "IEND" {
			f.state = pngTrailer
			// IEND has no data: pass its CRC now.
			var crc [4]byte
			if _, err := io.ReadFull(f.src, crc[:]); err != nil {
				return nil, unexpected(err)
			}
			return append(f.hdr[:], crc[:]...), nil
		}
		f.state = pngPass
		return f.hdr[:], nil
	case pngPass:
		if f.left == 0 {
			f.state = pngChunk
			return nil, nil
		}
		b, err := f.src.Peek(int(min(f.left, int64(f.src.Size()))))
		if len(b) == 0 {
			return nil, unexpected(err)
		}
		// Peeked bytes stay valid until the next read from src, which
		// is the next step, after they were handed on.
		_, _ = f.src.Discard(len(b))
		f.left -= int64(len(b))
		return b, nil
	case pngTrailer:
		if _, err := io.Copy(io.Discard, f.src); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	return nil, io.EOF
}

// webpFilter neutralises the EXIF and XMP chunks in place, so that the
// RIFF size already passed on stays true: such a chunk becomes a "JUNK"
// chunk of zeros (readers skip unknown chunks), and the VP8X flags stop
// announcing them. What follows the RIFF's end is dropped.
type webpFilter struct {
	src   *bufio.Reader
	pump  pump
	state int
	left  int64 // of the RIFF's payload
	chunk int64 // of the current chunk (with padding) to pass or zero
	zero  bool
	hdr   [12]byte
	vp8x  [18]byte
	zeros []byte
}

const (
	webpStart = iota
	webpChunk
	webpPass
	webpTrailer
)

func (f *webpFilter) orientation() int { return 1 }

func (f *webpFilter) Read(b []byte) (int, error) { return f.pump.read(b, f.step) }

func (f *webpFilter) step() ([]byte, error) {
	switch f.state {
	case webpStart:
		if _, err := io.ReadFull(f.src, f.hdr[:]); err != nil {
			return nil, unexpected(err)
		}
		f.left = int64(binary.LittleEndian.Uint32(f.hdr[4:8])) - 4
		f.state = webpChunk
		return f.hdr[:], nil
	case webpChunk:
		if f.left <= 0 {
			f.state = webpTrailer
			return nil, nil
		}
		if f.left < 8 {
			return nil, fmt.Errorf("%w: RIFF size", errBadPicture)
		}
		h := f.hdr[:8]
		if _, err := io.ReadFull(f.src, h); err != nil {
			return nil, unexpected(err)
		}
		n := int64(binary.LittleEndian.Uint32(h[4:8]))
		n += n & 1
		if n+8 > f.left {
			return nil, fmt.Errorf("%w: chunk size", errBadPicture)
		}
		f.left -= 8 + n
		f.chunk = n
		f.zero = false
		switch string(h[:4]) {
		case "EXIF", "XMP ":
			copy(h[:4], "JUNK")
			f.zero = true
		case "VP8X":
			if n == 10 {
				v := f.vp8x[:]
				copy(v, h)
				if _, err := io.ReadFull(f.src, v[8:]); err != nil {
					return nil, unexpected(err)
				}
				const exifBit, xmpBit = 1 << 3, 1 << 2
				v[8] &^= exifBit | xmpBit
				f.chunk = 0
				f.state = webpPass
				return v, nil
			}
		}
		f.state = webpPass
		return h, nil
	case webpPass:
		if f.chunk == 0 {
			f.state = webpChunk
			return nil, nil
		}
		b, err := f.src.Peek(int(min(f.chunk, int64(f.src.Size()))))
		if len(b) == 0 {
			return nil, unexpected(err)
		}
		_, _ = f.src.Discard(len(b))
		f.chunk -= int64(len(b))
		if f.zero {
			if len(f.zeros) < len(b) {
				f.zeros = make([]byte, f.src.Size())
			}
			return f.zeros[:len(b)], nil
		}
		return b, nil
	case webpTrailer:
		if _, err := io.Copy(io.Discard, f.src); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	return nil, io.EOF
}
