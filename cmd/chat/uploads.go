package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/files/diskstore"
	"github.com/chatrun/chat/files/gcsstore"
	"github.com/chatrun/chat/handlers"
)

// How often uploads are swept, and how old an upload that never became
// part of a message is when it goes: within the hour the issue promises
// (52 minutes and at most 5 more), and after the 50 minutes in which the
// handlers let a message take it.
const (
	uploadSweepEvery = 5 * time.Minute
	uploadPendingAge = 52 * time.Minute
)

// uploads is where files attached to messages are kept: the service, and
// what to close when run returns. Zero when uploads are off.
type uploads struct {
	service *files.Service
	close   func()
}

// openUploads opens cfg's store of uploads (UPLOAD_BUCKET on Cloud
// Storage, else UPLOAD_DIR) and starts its sweep, which ctx ends.
func openUploads(ctx context.Context, cfg config, log *slog.Logger) (uploads, error) {
	var store files.Store
	closeStore := func() {}
	switch {
	case cfg.uploadBucket != "":
		client, err := gcsstore.NewClient(ctx, cfg.storageEmulator)
		if err != nil {
			return uploads{}, fmt.Errorf("uploads: Cloud Storage: %w", err)
		}
		store, closeStore = gcsstore.New(client, cfg.uploadBucket), func() { _ = client.Close() }
		log.Info("uploads kept on Cloud Storage", "bucket", cfg.uploadBucket, "max_bytes", cfg.uploadMax)
	case cfg.uploadDir != "":
		d, err := diskstore.New(cfg.uploadDir)
		if err != nil {
			return uploads{}, fmt.Errorf("uploads: %w", err)
		}
		store = d
		if cfg.redis != nil || cfg.cluster != nil {
			log.Warn("UPLOAD_DIR keeps uploads on this instance's disk: other instances cannot serve them; set UPLOAD_BUCKET when running more than one")
		}
		log.Info("uploads kept on local disk", "dir", cfg.uploadDir, "max_bytes", cfg.uploadMax)
	default:
		return uploads{close: func() {}}, nil
	}
	svc := files.NewService(store, files.Limits{MaxBytes: cfg.uploadMax}, log)
	sweepCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A room's files follow its messages: kept as long as the
		// archive keeps them (HISTORY_RETENTION; a bucket's lifecycle
		// rule does it on Cloud Storage).
		svc.Run(sweepCtx, uploadSweepEvery, uploadPendingAge, cfg.retention)
	}()
	return uploads{service: svc, close: func() {
		stop()
		<-done
		closeStore()
	}}, nil
}

// uploader is u as the handlers take it: no service is no uploads at all
// (not a nil *files.Service in an interface).
func (u uploads) uploader() handlers.Uploader {
	if u.service == nil {
		return nil
	}
	return u.service
}
