// Package diskstore keeps files in a local folder, for a single instance
// (development, small installations): each file is {id} with its Info in
// {id}.json, its thumbnail {id}.thumb with {id}.thumb.json, and its claim
// {id}.claim. Files are written to a temporary file and renamed, so that
// nothing partial is ever visible; the Info is written last, and a file
// exists when its Info does.
package diskstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chatrun/chat/files"
)

// Store is a folder of files. It implements files.Store and files.Expirer.
type Store struct {
	dir string
	// mu orders the read-modify-writes of an Info (Claim against Claim,
	// Delete and Expire) within the process; the claim file decides
	// between Stores (or processes) sharing the folder.
	mu sync.Mutex
}

// New is a Store in dir, created if need be.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("diskstore: %w", err)
	}
	return &Store{dir: dir}, nil
}

// validID keeps ids to what files makes (crypto/rand.Text), so that no id
// names a path outside the folder.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func (s *Store) path(id string, v files.Variant) string {
	if v == files.Thumb {
		return filepath.Join(s.dir, id+".thumb")
	}
	return filepath.Join(s.dir, id)
}

// Create implements files.Store. The Info stored has Size set to the bytes
// read from r.
func (s *Store) Create(ctx context.Context, info files.Info, v files.Variant, r io.Reader) error {
	if !validID(info.ID) {
		return fmt.Errorf("diskstore: bad id %q", info.ID)
	}
	n, tmp, err := s.writeTemp(ctx, r)
	if err != nil {
		return err
	}
	p := s.path(info.ID, v)
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("diskstore: %w", err)
	}
	info.Size = n
	if err := s.writeInfo(p+".json", info); err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// ctxReader fails once ctx has ended: a cancelled upload stores nothing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeTemp copies r into a new temporary file of the folder, synced.
func (s *Store) writeTemp(ctx context.Context, r io.Reader) (int64, string, error) {
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return 0, "", fmt.Errorf("diskstore: %w", err)
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, "", fmt.Errorf("diskstore: writing: %w", err)
	}
	return n, f.Name(), nil
}

func (s *Store) writeInfo(p string, info files.Info) error {
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("diskstore: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("diskstore: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("diskstore: writing info: %w", err)
	}
	return nil
}

func (s *Store) readInfo(p string) (files.Info, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return files.Info{}, files.ErrNotFound
	}
	if err != nil {
		return files.Info{}, fmt.Errorf("diskstore: %w", err)
	}
	var info files.Info
	if err := json.Unmarshal(b, &info); err != nil {
		return files.Info{}, fmt.Errorf("diskstore: %s: %w", p, err)
	}
	return info, nil
}

// Open implements files.Store. For Thumb, Info's Type and Size are the
// thumbnail's.
func (s *Store) Open(ctx context.Context, id string, v files.Variant) (io.ReadCloser, files.Info, error) {
	info, err := s.Stat(ctx, id)
	if err != nil {
		return nil, files.Info{}, err
	}
	p := s.path(id, v)
	if v == files.Thumb {
		t, err := s.readInfo(p + ".json")
		if err != nil {
			return nil, files.Info{}, err
		}
		info.Type, info.Size = t.Type, t.Size
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, files.Info{}, files.ErrNotFound
	}
	if err != nil {
		return nil, files.Info{}, fmt.Errorf("diskstore: %w", err)
	}
	return f, info, nil
}

// Stat implements files.Store.
func (s *Store) Stat(ctx context.Context, id string) (files.Info, error) {
	if !validID(id) {
		return files.Info{}, files.ErrNotFound
	}
	return s.readInfo(s.path(id, files.Original) + ".json")
}

// Claim implements files.Store: the claim file, created only if absent,
// decides between claimers; the Info follows.
func (s *Store) Claim(ctx context.Context, id, guard string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := s.Stat(ctx, id)
	if err != nil {
		return err
	}
	switch info.Claim {
	case guard:
		return nil
	case "":
	default:
		return files.ErrClaimed
	}
	p := s.path(id, files.Original) + ".claim"
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	switch {
	case err == nil:
		_, err = f.WriteString(guard)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(p)
			return fmt.Errorf("diskstore: claiming %s: %w", id, err)
		}
	case errors.Is(err, fs.ErrExist):
		// Another claim won, or this one is being repeated.
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("diskstore: claiming %s: %w", id, err)
		}
		if string(b) != guard {
			return files.ErrClaimed
		}
	default:
		return fmt.Errorf("diskstore: claiming %s: %w", id, err)
	}
	info.Claim = guard
	return s.writeInfo(s.path(id, files.Original)+".json", info)
}

// Delete implements files.Store. The Info goes first: a file whose bytes
// remain after an error is no longer visible.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(id)
}

func (s *Store) delete(id string) error {
	base := s.path(id, files.Original)
	var errs []error
	for _, p := range []string{base + ".json", base, base + ".thumb.json", base + ".thumb", base + ".claim"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("diskstore: deleting %s: %w", id, err)
	}
	return nil
}

// each calls fn with the Info of every file in the folder until ctx ends.
func (s *Store) each(ctx context.Context, fn func(files.Info) error) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("diskstore: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validID(id) {
			continue
		}
		info, err := s.readInfo(filepath.Join(s.dir, e.Name()))
		if errors.Is(err, files.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Pending implements files.Store, by reading every Info: fine for the
// folder of one instance.
func (s *Store) Pending(ctx context.Context, before time.Time) ([]string, error) {
	var ids []string
	err := s.each(ctx, func(info files.Info) error {
		if info.Claim == "" && info.Created.Before(before) {
			ids = append(ids, info.ID)
		}
		return nil
	})
	return ids, err
}

// Expire implements files.Expirer.
func (s *Store) Expire(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.each(ctx, func(info files.Info) error {
		if !info.Created.Before(before) {
			return nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.delete(info.ID); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}
