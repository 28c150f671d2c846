// Package app puts one instance of the chat together: the realtime hub on a
// broker, and the handlers' server on the hub. cmd/chat's run and the tests
// that serve the chat in-process (cmd/chatbench's) both wire it here, so
// that what the tests load is what the service runs. handlers' own tests
// cannot use it: it imports handlers.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/chatrun/chat/handlers"
	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/static"
)

// App is a hub and the server in front of it.
type App struct {
	hub *realtime.Hub
	srv *handlers.Server
}

// directoryPush is how often the hub looks for a change of the directory
// to send to its sockets: as often as the pages polled it.
const directoryPush = 5 * time.Second

// New wires a hub on broker and a server on the hub. cfg's Chat and Log are
// set here (to the hub and log), and Static, when nil, to the embedded
// static files. When cfg.Metrics is also a realtime.Observer, as cmd/chat's
// metrics are, the hub reports to it too: one value counts both halves of
// the instance. A realtime.WithObserver among hubOpts takes precedence.
func New(broker realtime.Broker, cfg handlers.Config, log *slog.Logger, hubOpts ...realtime.HubOption) *App {
	var opts []realtime.HubOption
	if obs, ok := cfg.Metrics.(realtime.Observer); ok {
		opts = append(opts, realtime.WithObserver(obs))
	}
	// With an identity provider, everyone in a room signed in with it.
	// Pushed messages carry their author's handle, the same for every
	// socket, so that each page's script knows its reader's own.
	frags := handlers.Fragments{Verified: cfg.Identifier != nil || cfg.OIDC != nil, Handle: handlers.AuthorHandles(cfg.Secret)}
	// The hub tells the server of sign-outs, from any instance, once Run
	// has started: by then srv is set.
	var srv *handlers.Server
	opts = append(opts, realtime.WithSignedOut(func(session string) { srv.EndSession(session) }),
		realtime.WithRemoved(func(room, session string) { srv.RemovedFromRoom(room, session) }),
		realtime.WithExcluded(func(room, member string) { srv.ExcludedFromRoom(room, member) }))
	// A message edited or deleted, on any instance: the pages of
	// scrollback kept of its room are forgotten.
	opts = append(opts, realtime.WithChanged(func(room string) { srv.RoomChanged(room) }))
	// Each event is rendered once per language read in its room here.
	if cfg.Catalog == nil {
		cfg.Catalog = i18n.Default()
	}
	opts = append(opts, realtime.WithLanguages(frags.Languages(cfg.Catalog), string(i18n.English)))
	// The directory goes over the room pages' sockets, in place of their
	// polls (docs/SPEC.md, The room directory).
	if cfg.RoomDirectory {
		opts = append(opts, realtime.WithDirectoryPush(directoryPush))
	}
	hub := realtime.NewHub(broker, frags, log, append(opts, hubOpts...)...)
	cfg.Chat, cfg.Log = hub, log
	if cfg.Static == nil {
		cfg.Static = static.FS
	}
	srv = handlers.New(cfg)
	return &App{hub: hub, srv: srv}
}

// Handler serves the pages, the WebSocket and the no-JS fallback.
func (a *App) Handler() http.Handler { return a.srv.Handler() }

// Start runs the hub in the background until ctx ends, and returns a
// channel closed once the hub has stopped. A drain ends ctx only after
// CloseSockets, so that the hub serves the sockets until they are gone.
func (a *App) Start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.hub.Run(ctx)
	}()
	return done
}

// CloseSockets closes every socket with 1012, so that pages reconnect to
// another instance, and waits for their handlers; sockets still open when
// ctx ends are cut.
func (a *App) CloseSockets(ctx context.Context) { a.srv.CloseSockets(ctx) }
