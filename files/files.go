// Package files keeps the pictures and files people attach to messages:
// what an upload is (Info), where uploads are kept (Store: Cloud Storage in
// files/gcsstore, a local folder in files/diskstore), and the Service that
// takes an upload in as a stream, decides its type from its content,
// strips location data from pictures, makes their thumbnails and refuses
// what must not be kept. It knows nothing of HTTP, HTML or rooms' rules:
// handlers decide who may upload and read.
package files

import (
	"context"
	"errors"
	"io"
	"time"
)

// Info is one uploaded file as kept beside its bytes.
type Info struct {
	// ID names the file: 26 characters of [A-Z2-7] (crypto/rand.Text).
	ID string `json:"id"`
	// Name is the file's name as its uploader's system gave it, cleaned
	// (CleanName): shown escaped, offered when downloading.
	Name string `json:"name"`
	// Type is the media type decided from the content, never the
	// uploader's claim: image/png, image/jpeg, image/gif, image/webp,
	// application/pdf, text/plain; charset=utf-8, …,
	// application/octet-stream when nothing is recognised.
	Type string `json:"type"`
	// Size is the stored file's length in bytes (after location data
	// was stripped).
	Size int64 `json:"size"`
	// Image says that the file is a picture with a thumbnail; Width and
	// Height are the thumbnail's, in pixels (0 when not Image).
	Image  bool `json:"image,omitempty"`
	Width  int  `json:"width,omitempty"`
	Height int  `json:"height,omitempty"`
	// Room is the room it was uploaded to, and Owner who uploaded it (a
	// session id): only they may attach it, to a message of that room.
	Room  string `json:"room"`
	Owner string `json:"owner"`
	// Claim is the guard of the message it is attached to ("" while
	// pending: an upload that is part of no message yet).
	Claim string `json:"claim,omitempty"`
	// Created is when the upload was stored.
	Created time.Time `json:"created"`
}

// Variant is which of a file's objects is meant.
type Variant string

const (
	// Original is the file as uploaded (location data stripped).
	Original Variant = ""
	// Thumb is a picture's thumbnail.
	Thumb Variant = "thumb"
)

// Store keeps files' bytes and their Info. Every call leaves the process:
// callers give ctx a deadline.
type Store interface {
	// Create stores the bytes read from r as variant v of info.ID, with
	// info, streaming: it never holds the whole of r. An error from r (or
	// ctx ending) stores nothing, not even a part. info.Size is ignored:
	// the store counts the bytes it stored (an upload's length is known
	// only at its end). For Thumb, info.Type is the thumbnail's.
	Create(ctx context.Context, info Info, v Variant, r io.Reader) error
	// Open reads variant v of file id. ErrNotFound when there is none.
	// For Thumb, Info's Type and Size are the thumbnail's (what to serve
	// it with), the rest the file's.
	Open(ctx context.Context, id string, v Variant) (io.ReadCloser, Info, error)
	// Stat is file id's Info. ErrNotFound when there is none.
	Stat(ctx context.Context, id string) (Info, error)
	// Claim attaches pending file id to the message guard: it sets
	// Info.Claim when it is "" or already guard (a repeat), atomically
	// with respect to other Claims on any instance; ErrClaimed when
	// another guard holds it, ErrNotFound when there is no file.
	Claim(ctx context.Context, id, guard string) error
	// Delete removes file id, its thumbnail and its pending mark; no error
	// when there is none.
	Delete(ctx context.Context, id string) error
	// Pending lists the files still unclaimed that were created before
	// before.
	Pending(ctx context.Context, before time.Time) ([]string, error)
}

// The refusals of an upload. Each is a person's mistake, told to them.
var (
	// ErrTooLarge: over the size limit.
	ErrTooLarge = errors.New("files: the file is too large")
	// ErrEmpty: no bytes.
	ErrEmpty = errors.New("files: the file is empty")
	// ErrNotPicture: its name or declared type says picture (.png,
	// .jpg, image/*, …) and its content is no picture this service
	// reads (PNG, JPEG, GIF, WebP), or the picture cannot be decoded.
	ErrNotPicture = errors.New("files: the file is not the picture it says it is")
	// ErrActiveContent: an HTML page, SVG drawing or other content a
	// browser would run scripts in.
	ErrActiveContent = errors.New("files: pages and SVG drawings are not accepted")
	// ErrTooManyPixels: a picture larger than the pixel limit, refused
	// from its header before any decoding.
	ErrTooManyPixels = errors.New("files: the picture has too many pixels")
)

// Errors of a Store.
var (
	// ErrNotFound: no such file (never uploaded, deleted, or swept).
	ErrNotFound = errors.New("files: no such file")
	// ErrClaimed: the file is attached to another message.
	ErrClaimed = errors.New("files: the file belongs to another message")
)
