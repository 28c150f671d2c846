package handlers

import (
	"encoding/json"
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/views"
)

// appRoutes serves what makes the chat an installable app: its manifest,
// service worker and offline page.
func (s *Server) appRoutes(r chi.Router) {
	r.Get("/manifest.webmanifest", s.manifest)
	r.Get("/sw.js", s.serviceWorker)
	r.Get("/offline", s.offlinePage)
}

// manifestIcon is one member of a manifest's icons.
type manifestIcon struct {
	Src     string `json:"src"`
	Sizes   string `json:"sizes"`
	Type    string `json:"type"`
	Purpose string `json:"purpose"`
}

// webManifest is the members of the web app manifest the chat gives
// (https://www.w3.org/TR/appmanifest/).
type webManifest struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	ShortName       string         `json:"short_name"`
	Description     string         `json:"description"`
	Lang            string         `json:"lang"`
	Dir             string         `json:"dir"`
	StartURL        string         `json:"start_url"`
	Scope           string         `json:"scope"`
	Display         string         `json:"display"`
	BackgroundColor string         `json:"background_color"`
	ThemeColor      string         `json:"theme_color"`
	Icons           []manifestIcon `json:"icons"`
}

// appIcons are the icons under static/icons (drawn by cmd/icongen). The
// maskable one is a separate file: an icon for "any" is drawn to its
// edges, which a mask would cut.
func appIcons() []manifestIcon {
	return []manifestIcon{
		{Src: "/static/icons/icon-192.png", Sizes: "192x192", Type: "image/png", Purpose: "any"},
		{Src: "/static/icons/icon-512.png", Sizes: "512x512", Type: "image/png", Purpose: "any"},
		{Src: "/static/icons/icon-maskable-512.png", Sizes: "512x512", Type: "image/png", Purpose: "maskable"},
	}
}

// manifest serves GET /manifest.webmanifest in the reader's language: the
// name and description an installed app shows come from the catalogs.
func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := json.Marshal(webManifest{
		ID:          "/",
		Name:        i18n.T(ctx, "app.name"),
		ShortName:   i18n.T(ctx, "app.short_name"),
		Description: i18n.T(ctx, "app.about"),
		Lang:        i18n.From(ctx).Lang().Tag(),
		Dir:         "ltr",
		StartURL:    "/",
		Scope:       "/",
		Display:     "standalone",
		// One colour only: the manifest has no per-theme member; the
		// pages' theme-color metas say the dark one.
		BackgroundColor: views.ThemeLight,
		ThemeColor:      views.ThemeLight,
		Icons:           appIcons(),
	})
	if err != nil {
		s.log.Error("encode manifest", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/manifest+json")
	// Its language follows the language cookie and Accept-Language, and a
	// switch must show at once: caches keep it, but ask first.
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Accept-Language, Cookie")
	_, _ = w.Write(body)
}

// serviceWorker serves GET /sw.js, static/sw.js at the root so that its
// scope is the whole site. Browsers check it for updates at most daily
// anyway; no-cache makes a new version count at the next navigation.
func (s *Server) serviceWorker(w http.ResponseWriter, r *http.Request) {
	body, err := fs.ReadFile(s.static, "sw.js")
	if err != nil {
		s.log.Error("read the service worker", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
}

// offlinePage serves GET /offline, the page the service worker keeps and
// shows when the network is gone, in the reader's language.
func (s *Server) offlinePage(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, views.OfflinePage())
}
