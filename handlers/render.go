package handlers

import (
	"bytes"
	"context"
	"net/http"

	"github.com/a-h/templ"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Fragments renders the hub's events as the HTML fragments the page swaps
// in. It implements realtime.Renderer.
type Fragments struct{}

// Message appends m to #messages.
func (Fragments) Message(m realtime.Message) []byte {
	return renderBytes(views.MessageOOB(viewMessage(m)))
}

// Notice adds "name entered the room." or "name left the room." to
// #notices.
func (Fragments) Notice(kind realtime.EventKind, name string) []byte {
	text := name + " entered the room."
	if kind == realtime.KindLeft {
		text = name + " left the room."
	}
	return renderBytes(views.NoticeOOB(text))
}

// MemberList replaces the items of #members.
func (Fragments) MemberList(names []string) []byte {
	return renderBytes(views.MemberList(names, true))
}

// Availability is the signal that says whether the room takes messages.
func (Fragments) Availability(ok bool) []byte {
	return renderBytes(views.AvailabilityOOB(ok))
}

// Typing is the signal that name is typing.
func (Fragments) Typing(name string) []byte {
	return renderBytes(views.TypingOOB(name))
}

// MessageList replaces the content of #messages.
func (Fragments) MessageList(msgs []realtime.Message) []byte {
	return renderBytes(views.MessageListOOB(viewMessages(msgs)))
}

func renderBytes(c templ.Component) []byte {
	var buf bytes.Buffer
	// Rendering into memory fails only if a component is broken: a bug.
	if err := c.Render(context.Background(), &buf); err != nil {
		panic("render fragment: " + err.Error())
	}
	return buf.Bytes()
}

func viewMessage(m realtime.Message) views.Message {
	return views.Message{Seq: m.Seq, Name: m.Name, Text: m.Text, Time: m.Time}
}

func viewMessages(msgs []realtime.Message) []views.Message {
	out := make([]views.Message, len(msgs))
	for i, m := range msgs {
		out[i] = viewMessage(m)
	}
	return out
}

// page writes a whole HTML page with status.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.log.Error("render page", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fragment writes c alone: an answer htmx swaps into the page.
func (s *Server) fragment(w http.ResponseWriter, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		s.log.Error("render fragment", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
