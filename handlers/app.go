package handlers

import "github.com/go-chi/chi/v5"

// appRoutes serves what makes the chat an installable app: its manifest,
// service worker and offline page.
func (s *Server) appRoutes(r chi.Router) {}
