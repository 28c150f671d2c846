package files

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits bound what one upload may cost. A zero field means its default.
type Limits struct {
	// MaxBytes is the largest upload accepted, in bytes (default 10 MiB).
	MaxBytes int64
	// MaxPixels is the largest picture accepted, width×height as its
	// header says (default 25,000,000): decoding costs memory in
	// proportion to it, and only one picture is decoded at a time.
	MaxPixels int64
	// ThumbWidth and ThumbHeight bound a thumbnail (default 360×360);
	// a smaller picture's thumbnail keeps its size.
	ThumbWidth, ThumbHeight int
}

// Defaults of Limits.
const (
	DefaultMaxBytes    = 10 << 20
	DefaultMaxPixels   = 25_000_000
	DefaultThumbWidth  = 360
	DefaultThumbHeight = 360
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.ThumbWidth <= 0 {
		l.ThumbWidth = DefaultThumbWidth
	}
	if l.ThumbHeight <= 0 {
		l.ThumbHeight = DefaultThumbHeight
	}
	return l
}

// Expirer is a Store that can drop old files by itself (files/diskstore);
// Run calls it when given a retention. Cloud Storage buckets do this with
// a lifecycle rule instead.
type Expirer interface {
	// Expire deletes the files created before before, claimed or not, and
	// says how many it deleted.
	Expire(ctx context.Context, before time.Time) (int, error)
}

// Service takes uploads in and hands them out, over a Store.
type Service struct {
	store  Store
	limits Limits
	log    *slog.Logger
	// decode holds one token: pictures are decoded one at a time, so
	// that decoding costs at most one picture of MaxPixels.
	decode chan struct{}
	// now is time.Now but for tests that need old uploads.
	now func() time.Time
}

// NewService is a Service over store; log may be nil (slog.Default).
func NewService(store Store, limits Limits, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		store:  store,
		limits: limits.withDefaults(),
		log:    log,
		decode: make(chan struct{}, 1),
		now:    time.Now,
	}
}

// Limits are the Service's limits, defaults filled in.
func (s *Service) Limits() Limits { return s.limits }

// headSize is how much of an upload is looked at to decide its type.
const headSize = 1024

// Upload stores the file read from r, uploaded to room by owner under
// name, its uploader claiming it to be of type declared (untrusted: only
// used to notice a false picture). It streams: r is never held whole.
// The refusals are ErrEmpty, ErrTooLarge, ErrActiveContent, ErrNotPicture
// and ErrTooManyPixels, after which nothing is stored; other errors are
// the store's or r's.
func (s *Service) Upload(ctx context.Context, room, owner, name, declared string, r io.Reader) (Info, error) {
	name = CleanName(name)
	lim := &limitReader{r: r, max: s.limits.MaxBytes}
	br := bufio.NewReaderSize(lim, 4096)
	head, err := br.Peek(headSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return Info{}, lim.wrap(err)
	}
	if len(head) == 0 {
		return Info{}, ErrEmpty
	}
	k := sniff(head)
	if k == kindNone {
		// Pages and drawings first: they are refused whatever they
		// claim, and that is the more useful thing to be told.
		if activeName(name) || activeContent(head) {
			return Info{}, ErrActiveContent
		}
		if claimsPicture(name, declared) {
			return Info{}, ErrNotPicture
		}
		info := Info{ID: rand.Text(), Name: name, Type: detectType(head), Room: room, Owner: owner, Created: s.now().UTC()}
		cr := &countReader{r: br}
		if err := s.store.Create(ctx, info, Original, cr); err != nil {
			return Info{}, lim.wrap(fmt.Errorf("files: storing %s: %w", info.ID, err))
		}
		info.Size = cr.n
		return info, nil
	}
	if activeName(name) {
		return Info{}, ErrActiveContent
	}
	return s.uploadPicture(ctx, k, room, owner, name, br, lim)
}

// limitReader fails with ErrTooLarge once more than max bytes came.
type limitReader struct {
	r   io.Reader
	n   int64
	max int64
	err error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	// One byte over the limit is enough to know.
	if room := l.max + 1 - l.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		l.err = ErrTooLarge
		return 0, l.err
	}
	return n, err
}

// wrap turns err into ErrTooLarge when the limit is why it happened,
// however the error was wrapped (or replaced) on its way.
func (l *limitReader) wrap(err error) error {
	if l.err != nil {
		return l.err
	}
	return err
}

// countReader counts what was read through it: the bytes stored.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// cleanupTimeout bounds the deletions that undo a failed upload: they run
// even when the upload's ctx has ended.
const cleanupTimeout = 30 * time.Second

// undo deletes what a failed upload stored.
func (s *Service) undo(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.store.Delete(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "files: undoing a failed upload", "id", id, "err", err)
	}
}

// Open reads variant v of file id. For Thumb, Info's Type and Size are the
// thumbnail's. ErrNotFound when there is none.
func (s *Service) Open(ctx context.Context, id string, v Variant) (io.ReadCloser, Info, error) {
	return s.store.Open(ctx, id, v)
}

// Stat is file id's Info; ErrNotFound when there is none.
func (s *Service) Stat(ctx context.Context, id string) (Info, error) {
	return s.store.Stat(ctx, id)
}

// Claim attaches file id to the message guard (see Store.Claim).
func (s *Service) Claim(ctx context.Context, id, guard string) error {
	return s.store.Claim(ctx, id, guard)
}

// Delete removes files ids; a missing one is no error. It tries them all
// and reports the errors together.
func (s *Service) Delete(ctx context.Context, ids ...string) error {
	var errs []error
	for _, id := range ids {
		if err := s.store.Delete(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("files: deleting %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// callTimeout bounds each store call of Run.
const callTimeout = 30 * time.Second

// Run sweeps until ctx ends: at once and then every every, it deletes the
// files still pending (uploaded, never attached to a message) created more
// than pendingAge ago, and, when retention > 0 and the store is an
// Expirer, every file created more than retention ago.
func (s *Service) Run(ctx context.Context, every, pendingAge, retention time.Duration) {
	if every <= 0 {
		// time.NewTicker would panic; a minute is a sweep nobody notices.
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sweep(ctx, pendingAge, retention)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) sweep(ctx context.Context, pendingAge, retention time.Duration) {
	now := s.now()
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	ids, err := s.store.Pending(cctx, now.Add(-pendingAge))
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "files: listing pending files", "err", err)
		}
		return
	}
	swept := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if s.sweepOne(ctx, id) {
			swept++
		}
	}
	expired := 0
	if e, ok := s.store.(Expirer); ok && retention > 0 {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		expired, err = e.Expire(cctx, now.Add(-retention))
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "files: expiring files", "err", err)
		}
	}
	// A sweep that changed nothing is a debug line: an idle deployment's
	// log does not get one every few minutes.
	level := slog.LevelDebug
	if swept > 0 || expired > 0 {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "files: swept", "pending", len(ids), "deleted", swept, "expired", expired)
}

// sweepOne deletes pending file id unless a Claim came since it was
// listed (the Stat narrows that race to the Delete's round trip; a
// pendingAge far longer than writing a message makes it moot).
func (s *Service) sweepOne(ctx context.Context, id string) bool {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	info, err := s.store.Stat(cctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		// A mark left behind: Delete clears it.
	case err != nil:
		s.log.ErrorContext(ctx, "files: sweeping", "id", id, "err", err)
		return false
	case info.Claim != "":
		return false
	}
	cctx2, cancel2 := context.WithTimeout(ctx, callTimeout)
	defer cancel2()
	if err := s.store.Delete(cctx2, id); err != nil {
		s.log.ErrorContext(ctx, "files: sweeping", "id", id, "err", err)
		return false
	}
	return true
}

// Label is the short kind shown beside a file link ("PDF", "PNG", "ZIP",
// …): a type's usual abbreviation, else the name's extension upper-cased
// when it is 1–5 ASCII letters or digits, else "". It has no words, so
// nothing to translate. For text and ZIP the extension wins when there is
// one: "CSV" says more than "TXT", and a .docx is a ZIP nobody calls so.
func Label(typ, name string) string {
	ext := extLabel(name)
	mt, _, _ := strings.Cut(typ, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "application/pdf":
		return "PDF"
	case "image/png":
		return "PNG"
	case "image/jpeg":
		return "JPEG"
	case "image/gif":
		return "GIF"
	case "image/webp":
		return "WebP"
	case "application/zip":
		if ext == "" {
			return "ZIP"
		}
	case "text/plain":
		if ext == "" {
			return "TXT"
		}
	}
	return ext
}

func extLabel(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == 0 {
		return ""
	}
	ext := name[i+1:]
	if len(ext) < 1 || len(ext) > 5 {
		return ""
	}
	for _, c := range []byte(ext) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return ""
		}
	}
	return strings.ToUpper(ext)
}

// maxName is the longest cleaned name, in bytes.
const maxName = 200

// CleanName is name made safe to keep and show: its last path element
// (after / or \), without control or bidirectional-control characters
// (which could make "gpj.exe" read as "exe.jpg"), without spaces and dots
// at its ends, at most 200 bytes of valid UTF-8 keeping its extension;
// "file" when nothing is left.
func CleanName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || isBidi(r) {
			return -1
		}
		return r
	}, name)
	name = trimEnds(name)
	if len(name) > maxName {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		stem := name[:maxName-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		name = trimEnds(stem) + ext
	}
	if name == "" {
		return "file"
	}
	return name
}

func trimEnds(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
}

// isBidi reports the invisible characters that reorder text.
func isBidi(r rune) bool {
	switch {
	case r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	case 0x202A <= r && r <= 0x202E:
		return true
	case 0x2066 <= r && r <= 0x2069:
		return true
	}
	return false
}
