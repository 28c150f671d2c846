package handlers

import "github.com/go-chi/chi/v5"

// readingRoutes serves where each person stopped reading: their rooms with
// unread counts, read markers and notification levels.
func (s *Server) readingRoutes(r chi.Router) {}

// person is whose reading and notifications a session's are: its verified
// identity with AUTH (the same on every device), else the session itself.
func (sess Session) person() string {
	if sess.Subject != "" {
		return "id:" + sess.Subject
	}
	return "s:" + sess.ID
}
