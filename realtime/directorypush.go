package realtime

import (
	"context"
	"slices"
	"time"
)

// Every room page with JavaScript asked for the directory every 5 s: in a
// realistic day that was a quarter of the chat's CPU, most of it the
// requests themselves (docs/PERFORMANCE.md). With WithDirectoryPush the
// hub sends the directory over the sockets the pages already hold: once
// per change per room and language, as it does messages, and again every
// directoryResend so that a page knows its list is current; the page
// polls only while none comes.

// directoryResend is how often the directory goes to sockets even when it
// did not change: the page's script polls again when none came for 40 s.
// A socket that joins is sent it at the next look, changed or not.
const directoryResend = 30 * time.Second

// FollowingDirectory joins the socket as one that is sent the directory
// (WithDirectoryPush): a page whose reader sees no private room of their
// own in it, since the directory sent is the same for everyone.
func FollowingDirectory() JoinOption {
	return func(s *Socket) { s.directory = true }
}

// WithDirectoryPush has the hub read the directory every every and send it
// to the sockets that follow it when it changed, or when it last went
// directoryResend ago.
func WithDirectoryPush(every time.Duration) HubOption {
	return func(h *Hub) { h.directoryEvery = every }
}

// directoryLoop sends the directory to the sockets that follow it, until
// ctx ends. A directory that cannot be read is tried again next time.
func (h *Hub) directoryLoop(ctx context.Context) {
	tick := time.NewTicker(h.directoryEvery)
	defer tick.Stop()
	var last []RoomCount
	var sent time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, presenceWait)
		rooms, err := h.Directory(rctx)
		cancel()
		if err != nil {
			continue
		}
		now := time.Now()
		// Unchanged: only sockets that joined since (a page loaded or
		// reconnected) are sent it, so that a page that was away has it
		// within a tick rather than at the next change.
		all := !sent.After(now.Add(-directoryResend)) || !slices.Equal(rooms, last)
		if all {
			last, sent = rooms, now
		}
		var fl flushList
		for _, r := range h.roomList() {
			out := renderAs(func(rr Renderer) []byte { return rr.Directory(rooms, r.name) })
			r.mu.RLock()
			for sock := range r.sockets {
				// Best effort, as typing: the next one comes within
				// directoryResend, and the page polls without it.
				if sock.hidden.Load() {
					// Sent at the first look once it is shown.
					sock.directorySent = false
					continue
				}
				if sock.directory && (all || !sock.directorySent) {
					queued, flush := sock.offered(out.by(sock))
					sock.directorySent = sock.directorySent || queued
					fl.add(sock, flush)
				}
			}
			r.mu.RUnlock()
			fl.flush()
		}
	}
}
