// Package gcsstore keeps files in a Cloud Storage bucket, shared by every
// instance of the chat. A file id is the object "files/{id}" (its Info in
// the object's metadata, its type as the object's Content-Type), its
// thumbnail "files/{id}/thumb", its claim "files/{id}/claim" (holding the
// message guard), and while it is pending a mark "pending/{id}", so that
// sweeping lists only the pending files. No object is ever updated: a
// claim is an object created only if absent.
package gcsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/chatrun/chat/files"
)

// NewClient is a Cloud Storage client: with the default credentials when
// emulatorHost is "", else without authentication over plain HTTP to an
// emulator (fake-gcs-server) at emulatorHost ("127.0.0.1:4443"). It reads
// no environment variable of its own, so that tests running several chats
// in one process each reach their own emulator; the storage library itself
// still obeys STORAGE_EMULATOR_HOST when the process has it.
func NewClient(ctx context.Context, emulatorHost string) (*storage.Client, error) {
	if emulatorHost == "" {
		c, err := storage.NewClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("gcsstore: %w", err)
		}
		return c, nil
	}
	c, err := storage.NewClient(ctx,
		option.WithEndpoint("http://"+emulatorHost+"/storage/v1/"),
		option.WithoutAuthentication(),
		// Reads through the JSON API, at the endpoint above, rather than
		// the XML API's host.
		storage.WithJSONReads(),
	)
	if err != nil {
		return nil, fmt.Errorf("gcsstore: %w", err)
	}
	return c, nil
}

// Store is a bucket of files. It implements files.Store. Old files are
// best expired by the bucket's lifecycle rules (an age condition on
// "files/"), so it is no files.Expirer.
type Store struct {
	bucket *storage.BucketHandle
}

// New is a Store in bucket.
func New(client *storage.Client, bucket string) *Store {
	return &Store{bucket: client.Bucket(bucket)}
}

// chunkSize is the Writer's ChunkSize: an upload is held 256 KiB at a
// time (the default holds 16 MiB), sent as a resumable upload in chunks
// of that size and only completed by Close. ChunkSize 0 (one streamed
// request, nothing held) would cost no memory, but when the reader fails
// the library ends the multipart body with its closing boundary before
// failing it, and the server may keep the truncated object (the emulator
// does); an upload never completed is never kept. Larger chunks would be
// fewer requests (a 10 MiB file takes 40) for more memory per upload.
const chunkSize = 256 << 10

func (s *Store) object(id string) *storage.ObjectHandle { return s.bucket.Object("files/" + id) }
func (s *Store) thumb(id string) *storage.ObjectHandle {
	return s.bucket.Object("files/" + id + "/thumb")
}
func (s *Store) claim(id string) *storage.ObjectHandle {
	return s.bucket.Object("files/" + id + "/claim")
}
func (s *Store) mark(id string) *storage.ObjectHandle { return s.bucket.Object("pending/" + id) }

// Metadata keys of an Info.
const (
	keyName    = "name"
	keyRoom    = "room"
	keyOwner   = "owner"
	keyClaim   = "claim"
	keyCreated = "created"
	keyImage   = "image"
	keyWidth   = "width"
	keyHeight  = "height"
)

func metadata(info files.Info) map[string]string {
	m := map[string]string{
		keyName:    info.Name,
		keyRoom:    info.Room,
		keyOwner:   info.Owner,
		keyCreated: info.Created.UTC().Format(time.RFC3339Nano),
	}
	if info.Image {
		m[keyImage] = "1"
		m[keyWidth] = strconv.Itoa(info.Width)
		m[keyHeight] = strconv.Itoa(info.Height)
	}
	return m
}

func infoOf(id string, a *storage.ObjectAttrs) files.Info {
	m := a.Metadata
	info := files.Info{
		ID:    id,
		Name:  m[keyName],
		Type:  a.ContentType,
		Size:  a.Size,
		Room:  m[keyRoom],
		Owner: m[keyOwner],
		Image: m[keyImage] == "1",
	}
	info.Created, _ = time.Parse(time.RFC3339Nano, m[keyCreated])
	info.Width, _ = strconv.Atoi(m[keyWidth])
	info.Height, _ = strconv.Atoi(m[keyHeight])
	return info
}

// notFound maps the library's absence to files.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) {
		return files.ErrNotFound
	}
	return err
}

// preconditionFailed says whether err is a 412 (a condition not met).
func preconditionFailed(err error) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == http.StatusPreconditionFailed
}

// Create implements files.Store. An Original is marked pending first, so
// that a file stored by an instance that then died is still swept.
func (s *Store) Create(ctx context.Context, info files.Info, v files.Variant, r io.Reader) error {
	if info.ID == "" {
		return errors.New("gcsstore: no id")
	}
	if v == files.Thumb {
		return s.write(ctx, s.thumb(info.ID), info.Type, nil, r)
	}
	if info.Claim == "" {
		m := map[string]string{keyCreated: info.Created.UTC().Format(time.RFC3339Nano)}
		if err := s.write(ctx, s.mark(info.ID), "", m, nil); err != nil {
			return err
		}
	}
	err := s.write(ctx, s.object(info.ID).If(storage.Conditions{DoesNotExist: true}), info.Type, metadata(info), r)
	if err == nil && info.Claim != "" {
		// Created claimed (an import, a test): no mark, a claim.
		err = s.write(ctx, s.claim(info.ID), "text/plain", map[string]string{keyClaim: info.Claim}, nil)
	}
	if err != nil {
		if preconditionFailed(err) {
			// Another file has this id: it is not this upload's to undo.
			return err
		}
		// Nothing half-stored; a mark alone would be swept, but need
		// not wait for it.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.Delete(dctx, info.ID)
		return err
	}
	return nil
}

// write streams r (nil: nothing) into object o. When r fails the upload is
// cancelled, so that nothing is stored.
func (s *Store) write(ctx context.Context, o *storage.ObjectHandle, typ string, m map[string]string, r io.Reader) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := o.NewWriter(wctx)
	w.ChunkSize = chunkSize
	w.ContentType = typ
	w.Metadata = m
	if r != nil {
		if _, err := io.Copy(w, r); err != nil {
			// The request body must end in an error, not in EOF: a
			// body that ends cleanly is a complete (short) object.
			// Cancelling wctx alone closes the body from another
			// goroutine, racing Close's clean end, so the body is
			// failed first (CloseWithError is deprecated in favour
			// of that racy cancel), then Close waits for the request.
			_ = w.CloseWithError(err) //nolint:staticcheck // see above
			cancel()
			_ = w.Close()
			return fmt.Errorf("gcsstore: writing %s: %w", o.ObjectName(), err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gcsstore: writing %s: %w", o.ObjectName(), err)
	}
	return nil
}

// Open implements files.Store. For Thumb, Info's Type and Size are the
// thumbnail's.
func (s *Store) Open(ctx context.Context, id string, v files.Variant) (io.ReadCloser, files.Info, error) {
	info, gen, err := s.stat(ctx, id)
	if err != nil {
		return nil, files.Info{}, err
	}
	o := s.object(id).Generation(gen)
	if v == files.Thumb {
		o = s.thumb(id)
	}
	rd, err := o.NewReader(ctx)
	if err != nil {
		return nil, files.Info{}, fmt.Errorf("gcsstore: %w", notFound(err))
	}
	if v == files.Thumb {
		info.Type, info.Size = rd.Attrs.ContentType, rd.Attrs.Size
	}
	return rd, info, nil
}

// Stat implements files.Store.
func (s *Store) Stat(ctx context.Context, id string) (files.Info, error) {
	info, _, err := s.stat(ctx, id)
	return info, err
}

// stat reads the file's object and its claim at the same time; it also
// gives the object's generation.
func (s *Store) stat(ctx context.Context, id string) (files.Info, int64, error) {
	type claim struct {
		guard string
		err   error
	}
	ch := make(chan claim, 1)
	go func() {
		g, err := s.claimOf(ctx, id)
		ch <- claim{g, err}
	}()
	a, err := s.object(id).Attrs(ctx)
	c := <-ch
	if err != nil {
		return files.Info{}, 0, fmt.Errorf("gcsstore: %w", notFound(err))
	}
	if c.err != nil {
		return files.Info{}, 0, fmt.Errorf("gcsstore: %w", c.err)
	}
	info := infoOf(id, a)
	info.Claim = c.guard
	return info, a.Generation, nil
}

// Claim implements files.Store. The claim object, created only if it does
// not exist, decides between instances: Cloud Storage creates it for one
// of them. The file's own metadata is left alone: an update under a
// metageneration condition would do on Cloud Storage, but fake-gcs-server
// ignores that condition and races its readers when updating metadata.
func (s *Store) Claim(ctx context.Context, id, guard string) error {
	if _, err := s.object(id).Attrs(ctx); err != nil {
		return fmt.Errorf("gcsstore: claiming %s: %w", id, notFound(err))
	}
	c := s.claim(id).If(storage.Conditions{DoesNotExist: true})
	err := s.write(ctx, c, "text/plain", map[string]string{keyClaim: guard}, nil)
	switch {
	case err == nil:
	case preconditionFailed(err):
		// Another claim won, or this one is being repeated.
		held, err := s.claimOf(ctx, id)
		if err != nil {
			return fmt.Errorf("gcsstore: claiming %s: %w", id, err)
		}
		if held != guard {
			return files.ErrClaimed
		}
	default:
		return fmt.Errorf("gcsstore: claiming %s: %w", id, err)
	}
	return s.unmark(ctx, id)
}

// claimOf is the guard holding file id, "" when none.
func (s *Store) claimOf(ctx context.Context, id string) (string, error) {
	a, err := s.claim(id).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return a.Metadata[keyClaim], nil
}

func (s *Store) unmark(ctx context.Context, id string) error {
	if err := s.mark(id).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("gcsstore: claiming %s: %w", id, err)
	}
	return nil
}

// Delete implements files.Store. The pending mark goes last, so that a
// Delete that fails halfway is tried again by the next sweep.
func (s *Store) Delete(ctx context.Context, id string) error {
	for _, o := range []*storage.ObjectHandle{s.object(id), s.thumb(id), s.claim(id), s.mark(id)} {
		if err := o.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			return fmt.Errorf("gcsstore: deleting %s: %w", o.ObjectName(), err)
		}
	}
	return nil
}

// Pending implements files.Store: it lists the pending marks only.
func (s *Store) Pending(ctx context.Context, before time.Time) ([]string, error) {
	q := &storage.Query{Prefix: "pending/"}
	if err := q.SetAttrSelection([]string{"Name", "Metadata"}); err != nil {
		return nil, fmt.Errorf("gcsstore: %w", err)
	}
	var ids []string
	it := s.bucket.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return ids, nil
		}
		if err != nil {
			return ids, fmt.Errorf("gcsstore: listing pending files: %w", err)
		}
		created, err := time.Parse(time.RFC3339Nano, a.Metadata[keyCreated])
		if err != nil || created.Before(before) {
			ids = append(ids, a.Name[len("pending/"):])
		}
	}
}
