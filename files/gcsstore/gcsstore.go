// Package gcsstore keeps files in a Cloud Storage bucket, shared by every
// instance of the chat. A file id is the object "files/{id}" (its Info in
// the object's metadata, its type as the object's Content-Type), its
// thumbnail "files/{id}/thumb", its claim "files/{id}/claim" (holding the
// message guard), and while it is pending a mark "pending/{id}", so that
// sweeping lists only the pending files.
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

// chunkSize is the Writer's ChunkSize: 0 sends an upload as one streamed
// request, with no buffer at all (the default buffers 16 MiB per upload).
// The price is that a failed request is not retried by the library; it
// could not be anyway without holding the bytes, and the person uploading
// can send the file again.
const chunkSize = 0

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
	if info.Claim != "" {
		m[keyClaim] = info.Claim
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
		Claim: m[keyClaim],
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
	if err != nil {
		// The mark alone would be swept, but need not wait for it.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.mark(info.ID).Delete(dctx)
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
	a, err := s.object(id).Attrs(ctx)
	if err != nil {
		return nil, files.Info{}, fmt.Errorf("gcsstore: %w", notFound(err))
	}
	info := infoOf(id, a)
	o := s.object(id).Generation(a.Generation)
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
	a, err := s.object(id).Attrs(ctx)
	if err != nil {
		return files.Info{}, fmt.Errorf("gcsstore: %w", notFound(err))
	}
	return infoOf(id, a), nil
}

// claimTries bounds the metadata updates lost to concurrent ones.
const claimTries = 3

// Claim implements files.Store. The claim object, created only if it does
// not exist, decides between instances: Cloud Storage (and fake-gcs-server,
// which ignores metageneration conditions) creates it for one of them.
// The file's metadata then follows, under a metageneration condition so
// that no other update is lost, and the pending mark goes.
func (s *Store) Claim(ctx context.Context, id, guard string) error {
	a, err := s.object(id).Attrs(ctx)
	if err != nil {
		return fmt.Errorf("gcsstore: %w", notFound(err))
	}
	switch a.Metadata[keyClaim] {
	case guard:
		return s.unmark(ctx, id)
	case "":
	default:
		return files.ErrClaimed
	}
	c := s.claim(id).If(storage.Conditions{DoesNotExist: true})
	err = s.write(ctx, c, "text/plain", map[string]string{keyClaim: guard}, nil)
	switch {
	case err == nil:
	case preconditionFailed(err):
		// Another claim won, or this one is being repeated.
		ca, err := s.claim(id).Attrs(ctx)
		if err != nil {
			return fmt.Errorf("gcsstore: claiming %s: %w", id, notFound(err))
		}
		if ca.Metadata[keyClaim] != guard {
			return files.ErrClaimed
		}
	default:
		return fmt.Errorf("gcsstore: claiming %s: %w", id, err)
	}
	for try := 1; ; try++ {
		_, err := s.object(id).If(storage.Conditions{MetagenerationMatch: a.Metageneration}).
			Update(ctx, storage.ObjectAttrsToUpdate{Metadata: map[string]string{keyClaim: guard}})
		if err == nil {
			break
		}
		if !preconditionFailed(err) || try == claimTries {
			return fmt.Errorf("gcsstore: claiming %s: %w", id, notFound(err))
		}
		if a, err = s.object(id).Attrs(ctx); err != nil {
			return fmt.Errorf("gcsstore: claiming %s: %w", id, notFound(err))
		}
	}
	return s.unmark(ctx, id)
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
