package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Uploader keeps the files attached to messages (files.Service).
type Uploader interface {
	// Upload stores one file read from r, pending until a message
	// claims it; files' refusals (files.ErrTooLarge, …) are the person's.
	Upload(ctx context.Context, room, owner, name, declared string, r io.Reader) (files.Info, error)
	// Open reads a file or its thumbnail; files.ErrNotFound when gone.
	Open(ctx context.Context, id string, v files.Variant) (io.ReadCloser, files.Info, error)
	// Stat is a file's Info; files.ErrNotFound when gone.
	Stat(ctx context.Context, id string) (files.Info, error)
	// Claim attaches a pending file to the message of guard
	// (files.ErrClaimed: another message's).
	Claim(ctx context.Context, id, guard string) error
	// Delete removes files, thumbnails and all.
	Delete(ctx context.Context, ids ...string) error
	// Limits are the limits uploads are held to.
	Limits() files.Limits
}

// The bounds of uploads the handlers keep themselves: how long an upload
// may stay unclaimed and still be attached (the store sweeps it after an
// hour: files.Service.Run), how long one upload may take, and the bytes a
// session may upload an hour by default (UPLOAD_PER_HOUR).
const (
	uploadClaimable      = 50 * time.Minute
	uploadWait           = 10 * time.Minute
	DefaultUploadPerHour = 200 << 20
)

// fileState is a Server's uploads: the service, nil when uploads are off,
// and each session's budget of bytes an hour.
type fileState struct {
	up     Uploader
	limits files.Limits
	budget *limiter // bytes, per session
}

func newFileState(up Uploader, perHour int64) fileState {
	if up == nil {
		return fileState{}
	}
	if perHour <= 0 {
		perHour = DefaultUploadPerHour
	}
	return fileState{up: up, limits: up.Limits(), budget: newLimiter(rate.Limit(float64(perHour)/3600), int(perHour))}
}

// uploads is what the send form needs of the room's uploads; zero when off.
func (s *Server) uploads(room string) views.Uploads {
	if s.files.up == nil {
		return views.Uploads{}
	}
	return views.Uploads{URL: "/rooms/" + room + "/uploads", MaxBytes: s.files.limits.MaxBytes, MaxFiles: realtime.MaxFiles}
}

func (s *Server) fileRoutes(r chi.Router) {
	if s.files.up == nil {
		return
	}
	r.Post("/rooms/{room}/uploads", s.upload)
	r.Get("/files/{id}", s.serveFile)
	r.Get("/files/{id}/{variant}", s.serveFile)
}

// uploadRefusal is how a refused upload is told: its status and the
// sentence in the language of ctx; 0 when err is no refusal (the store
// failed).
func (s *Server) uploadRefusal(ctx context.Context, err error) (int, string) {
	var tooBig *http.MaxBytesError
	size := views.FileSize(s.files.limits.MaxBytes)
	switch {
	case errors.Is(err, files.ErrTooLarge), errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, i18n.T(ctx, "files.too_large", "Size", size)
	case errors.Is(err, files.ErrEmpty):
		return http.StatusUnprocessableEntity, i18n.T(ctx, "files.empty")
	case errors.Is(err, files.ErrNotPicture):
		return http.StatusUnprocessableEntity, i18n.T(ctx, "files.not_picture")
	case errors.Is(err, files.ErrActiveContent):
		return http.StatusUnprocessableEntity, i18n.T(ctx, "files.active")
	case errors.Is(err, files.ErrTooManyPixels):
		return http.StatusUnprocessableEntity, i18n.T(ctx, "files.too_many_pixels", "Megapixels", s.files.limits.MaxPixels/1_000_000)
	case errors.Is(err, multipart.ErrMessageTooLarge):
		return http.StatusRequestEntityTooLarge, i18n.T(ctx, "files.too_large", "Size", size)
	}
	return 0, ""
}

// uploadOne stores one file part for sess in room, charging the session's
// budget. It returns the stored file, or a status and refusal, or an
// error when the store failed.
func (s *Server) uploadOne(ctx context.Context, room string, sess Session, part *multipart.Part) (files.Info, int, string, error) {
	now := time.Now()
	if !s.files.budget.hasTokens(sess.ID, 1, now) {
		return files.Info{}, http.StatusTooManyRequests, i18n.T(ctx, "files.too_fast"), nil
	}
	ctx, cancel := context.WithTimeout(ctx, uploadWait)
	defer cancel()
	info, err := s.files.up.Upload(ctx, room, sess.ID, part.FileName(), part.Header.Get("Content-Type"), part)
	if err != nil {
		if status, why := s.uploadRefusal(ctx, err); status != 0 {
			return files.Info{}, status, why, nil
		}
		return files.Info{}, 0, "", err
	}
	// Charged once stored: a session's last file of the hour may take it
	// past its budget by one file, and then it waits.
	s.files.budget.takeN(sess.ID, int(info.Size), now)
	return info, 0, "", nil
}

// upload answers POST /rooms/{room}/uploads: the page's script sends one
// file (part "files") and gets its Info as JSON, or a refusal as
// {"error": "…"}. The file stays pending until a message claims it.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	room, ok := s.roomParam(w, r, false)
	if !ok {
		return
	}
	sess, ok := s.session(r)
	if !ok {
		jsonError(w, http.StatusUnauthorized, i18n.T(ctx, "socket.session_ended"))
		return
	}
	if status, why := s.mayRead(ctx, r, room, sess); status != 0 {
		jsonError(w, status, why)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.files.limits.MaxBytes+maxFormBody)
	// A file refused from its first bytes (a page named .png) is still
	// on its way: the rest is read (up to the limit above) before the
	// answer, or the browser could see the connection cut instead of why.
	refuse := func(status int, why string) {
		_, _ = io.Copy(io.Discard, r.Body)
		jsonError(w, status, why)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		refuse(http.StatusUnprocessableEntity, i18n.T(ctx, "files.unreadable"))
		return
	}
	var part *multipart.Part
	for {
		p, err := mr.NextPart()
		if err != nil {
			if status, why := s.uploadRefusal(ctx, err); status != 0 {
				refuse(status, why)
				return
			}
			refuse(http.StatusUnprocessableEntity, i18n.T(ctx, "files.unreadable"))
			return
		}
		if p.FormName() == "files" && p.FileName() != "" {
			part = p
			break
		}
	}
	info, status, why, err := s.uploadOne(ctx, room, sess, part)
	switch {
	case err != nil:
		s.log.Error("store an upload", "room", room, "err", err)
		w.Header().Set("Retry-After", "2")
		refuse(http.StatusServiceUnavailable, i18n.T(ctx, "files.unavailable"))
		return
	case status != 0:
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "60")
		}
		refuse(status, why)
		return
	}
	s.log.Info("upload", "room", room, "id", info.ID, "type", info.Type, "size", info.Size)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(uploadAnswer{
		ID: info.ID, Name: info.Name, Type: info.Type, Size: info.Size, Image: info.Image,
		Width: info.Width, Height: info.Height, URL: "/files/" + info.ID,
		Thumb: thumbURL(info),
	})
}

// uploadAnswer is POST /rooms/{room}/uploads' answer (docs/SPEC.md).
type uploadAnswer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Image  bool   `json:"image"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	URL    string `json:"url"`
	Thumb  string `json:"thumb,omitempty"`
}

func thumbURL(info files.Info) string {
	if !info.Image {
		return ""
	}
	return "/files/" + info.ID + "/thumb"
}

// jsonError answers a script's request with status and {"error": why}.
func jsonError(w http.ResponseWriter, status int, why string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": why})
}

// mayRead says whether sess may read room (and so upload to it and read
// its files): 0 when it may, else the status and why. A private room
// the reader is not a member of, and a room a moderator removed them
// from, are refused.
func (s *Server) mayRead(ctx context.Context, r *http.Request, room string, sess Session) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	_, ok, err := s.chat.Access(ctx, room, memberOf(r))
	switch {
	case err != nil:
		s.log.Error("read a room's access", "room", room, "err", err)
		return http.StatusServiceUnavailable, i18n.T(ctx, "request.unavailable")
	case !ok:
		return http.StatusForbidden, i18n.T(ctx, "files.not_yours")
	}
	if until, out := s.keptOut(ctx, room, sess); out {
		return http.StatusForbidden, removedSentence(ctx, until)
	}
	return 0, ""
}

// checkUploads refuses a message that names more files than one may
// carry, or one file twice.
func (s *Server) checkUploads(ctx context.Context, ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	if s.files.up == nil {
		return i18n.T(ctx, "files.unknown_upload")
	}
	if len(ids) > realtime.MaxFiles {
		return i18n.T(ctx, "files.too_many", "Count", realtime.MaxFiles)
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return unreadable(ctx)
		}
	}
	return ""
}

// attach claims the files ids for the message of guard: each must be
// sess's, uploaded to room, not too old to be kept, and no other
// message's. A repeat of the same message (its guard) claims them again
// harmlessly. It returns them as the message carries them, or why not.
func (s *Server) attach(ctx context.Context, room string, sess Session, guard string, ids []string) ([]realtime.Attachment, string, error) {
	if len(ids) == 0 {
		return nil, "", nil
	}
	if guard == "" {
		// Without a nonce a repeat could not be told from another
		// message: files need one.
		return nil, validateNonce(ctx, ""), nil
	}
	out := make([]realtime.Attachment, 0, len(ids))
	for _, id := range ids {
		info, err := s.files.up.Stat(ctx, id)
		switch {
		case errors.Is(err, files.ErrNotFound):
			return nil, i18n.T(ctx, "files.unknown_upload"), nil
		case err != nil:
			s.log.Error("read an upload", "id", id, "err", err)
			return nil, "", errors.Join(errUnavailable, err)
		case info.Room != room || info.Owner != sess.ID,
			info.Claim == "" && time.Since(info.Created) > uploadClaimable:
			return nil, i18n.T(ctx, "files.unknown_upload"), nil
		}
		switch err := s.files.up.Claim(ctx, id, guard); {
		case errors.Is(err, files.ErrNotFound), errors.Is(err, files.ErrClaimed):
			return nil, i18n.T(ctx, "files.unknown_upload"), nil
		case err != nil:
			s.log.Error("claim an upload", "id", id, "err", err)
			return nil, "", errors.Join(errUnavailable, err)
		}
		out = append(out, realtime.Attachment{ID: info.ID, Name: info.Name, Type: info.Type, Size: info.Size,
			Image: info.Image, Width: info.Width, Height: info.Height})
	}
	return out, "", nil
}

// parseUploads reads a frame's "uploads": an array of ids, or one id; nil
// or absent is none. An id is 26 characters of [A-Z2-7].
func parseUploads(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var ids []string
	if json.Unmarshal(raw, &ids) != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return nil, false
		}
		ids = []string{one}
	}
	if len(ids) > 16 {
		return nil, false
	}
	for _, id := range ids {
		if !validFileID(id) {
			return nil, false
		}
	}
	return ids, true
}

// validFileID reports whether id can name a file: 26 characters of
// [A-Z2-7], as crypto/rand.Text makes them.
func validFileID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// deleteFiles removes the files of a deleted message, off the request's
// path: the message is gone already, and its files must not outlive it.
func (s *Server) deleteFiles(fs []realtime.Attachment) {
	if s.files.up == nil || len(fs) == 0 {
		return
	}
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.files.up.Delete(ctx, ids...); err != nil {
		s.log.Error("delete a deleted message's files", "ids", ids, "err", err)
	}
}

// inlineTypes are the types served to be shown in the page: the pictures
// the service reads. Everything else is a download.
var inlineTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// serveFile answers GET /files/{id} and /files/{id}/thumb: to a reader of
// the file's room only, with the type the server decided, as a download
// unless it is a picture, and in a sandbox whatever it is.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	v := files.Original
	switch chi.URLParam(r, "variant") {
	case "":
	case "thumb":
		v = files.Thumb
	default:
		s.fileError(w, r, http.StatusNotFound, i18n.T(ctx, "files.not_found"))
		return
	}
	sess, ok := s.session(r)
	if !ok {
		s.fileError(w, r, http.StatusUnauthorized, i18n.T(ctx, "socket.session_ended"))
		return
	}
	if !validFileID(id) {
		s.fileError(w, r, http.StatusNotFound, i18n.T(ctx, "files.not_found"))
		return
	}
	sctx, cancel := context.WithTimeout(ctx, brokerWait)
	info, err := s.files.up.Stat(sctx, id)
	cancel()
	switch {
	case errors.Is(err, files.ErrNotFound):
		s.fileError(w, r, http.StatusNotFound, i18n.T(ctx, "files.not_found"))
		return
	case err != nil:
		s.log.Error("read a file", "id", id, "err", err)
		s.fileError(w, r, http.StatusServiceUnavailable, i18n.T(ctx, "files.unavailable"))
		return
	case info.Claim == "" && info.Owner != sess.ID:
		// Pending: part of no message yet, its uploader's alone.
		s.fileError(w, r, http.StatusNotFound, i18n.T(ctx, "files.not_found"))
		return
	case v == files.Thumb && !info.Image:
		s.fileError(w, r, http.StatusNotFound, i18n.T(ctx, "files.not_found"))
		return
	}
	if status, why := s.mayRead(ctx, r, info.Room, sess); status != 0 {
		s.fileError(w, r, status, why)
		return
	}
	etag := `"` + id + string(v) + `"`
	h := w.Header()
	fileHeaders(h, info, v)
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	octx, cancel := context.WithTimeout(ctx, uploadWait)
	defer cancel()
	body, _, err := s.files.up.Open(octx, id, v)
	switch {
	case errors.Is(err, files.ErrNotFound):
		s.fileError(w, r, http.StatusNotFound, i18n.T(ctx, "files.not_found"))
		return
	case err != nil:
		s.log.Error("open a file", "id", id, "err", err)
		s.fileError(w, r, http.StatusServiceUnavailable, i18n.T(ctx, "files.unavailable"))
		return
	}
	defer body.Close()
	if v == files.Original {
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	if _, err := io.Copy(w, body); err != nil && ctx.Err() == nil {
		s.log.Warn("serve a file", "id", id, "err", err)
	}
}

// fileHeaders are a file response's headers: the type decided from the
// content, never sniffed again by the browser; a download for everything
// but pictures, under its cleaned name; and a sandbox, so that nothing in
// it runs with the chat's origin even if a browser rendered it. Files
// never change: the ETag is their id, and each use asks again (the file
// may have been deleted since).
func fileHeaders(h http.Header, info files.Info, v files.Variant) {
	typ := info.Type
	disposition := "attachment"
	if v == files.Thumb {
		typ = "" // the thumbnail's type is the store's: JPEG or PNG
	} else if inlineTypes[info.Type] {
		disposition = "inline"
	}
	if typ != "" {
		h.Set("Content-Type", typ)
	}
	h.Set("Content-Disposition", contentDisposition(disposition, info.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cache-Control", "private, no-cache")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// contentDisposition is the header for a file named name: the name as
// RFC 6266 spells it (filename* for anything past ASCII), quotes and
// backslashes included safely.
func contentDisposition(kind, name string) string {
	if v := mime.FormatMediaType(kind, map[string]string{"filename": name}); v != "" {
		return v
	}
	return kind
}

// fileError answers a file request that cannot be served: a page, which
// a picture's <img> shows as broken and a link shows as a page.
func (s *Server) fileError(w http.ResponseWriter, r *http.Request, status int, why string) {
	w.Header().Set("Cache-Control", "no-store")
	title := i18n.T(r.Context(), "error.not_found")
	if status != http.StatusNotFound {
		title = i18n.T(r.Context(), "request.forbidden")
	}
	s.page(w, r, status, views.ErrorPage(title, why))
}

// isMultipart reports whether r's body is multipart/form-data.
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && strings.EqualFold(mt, "multipart/form-data")
}

// readMultipartMessage reads a no-JS post with files: its fields, and its
// files stored as uploads for sess in room. It returns the fields, the
// ids of the files stored, and a refusal (nothing of the files is then
// kept) or an error when the store failed.
func (s *Server) readMultipartMessage(ctx context.Context, r *http.Request, room string, sess Session) (fields map[string]string, ids []string, status int, why string, err error) {
	fields = map[string]string{}
	fail := func(st int, w string, e error) (map[string]string, []string, int, string, error) {
		s.dropUploads(ids)
		return fields, nil, st, w, e
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return fail(http.StatusUnprocessableEntity, i18n.T(ctx, "files.unreadable"), nil)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return fields, ids, 0, "", nil
		}
		if err != nil {
			if st, w := s.uploadRefusal(ctx, err); st != 0 {
				return fail(st, w, nil)
			}
			return fail(http.StatusUnprocessableEntity, i18n.T(ctx, "files.unreadable"), nil)
		}
		name := part.FormName()
		switch {
		case name == "files":
			if part.FileName() == "" {
				// A file control left empty still sends its part.
				_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<10))
				continue
			}
			if s.files.up == nil {
				return fail(http.StatusUnprocessableEntity, i18n.T(ctx, "files.unknown_upload"), nil)
			}
			if len(ids) == realtime.MaxFiles {
				return fail(http.StatusUnprocessableEntity, i18n.T(ctx, "files.too_many", "Count", realtime.MaxFiles), nil)
			}
			info, st, w, err := s.uploadOne(ctx, room, sess, part)
			if err != nil || st != 0 {
				return fail(st, w, err)
			}
			ids = append(ids, info.ID)
		case part.FileName() != "":
			_, _ = io.Copy(io.Discard, part)
		default:
			b, err := io.ReadAll(io.LimitReader(part, maxFormBody+1))
			if err != nil || len(b) > maxFormBody {
				return fail(http.StatusUnprocessableEntity, i18n.T(ctx, "refusal.too_large"), nil)
			}
			if _, seen := fields[name]; !seen {
				fields[name] = string(b)
			}
		}
	}
}

// dropUploads deletes uploads of a message that was refused: nothing of
// it is kept.
func (s *Server) dropUploads(ids []string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.files.up.Delete(ctx, ids...); err != nil {
		s.log.Error("delete a refused message's uploads", "ids", ids, "err", err)
	}
}

// notCarried are the ids of ids that fs does not hold.
func notCarried(ids []string, fs []realtime.Attachment) []string {
	var out []string
	for _, id := range ids {
		if !slices.ContainsFunc(fs, func(f realtime.Attachment) bool { return f.ID == id }) {
			out = append(out, id)
		}
	}
	return out
}
