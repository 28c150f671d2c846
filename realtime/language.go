package realtime

import "sync"

// Languages. Pages are written in their reader's language, so the hub
// renders each event once per language read in a room on this instance,
// not once per socket: a socket joins in a language (InLanguage), and the
// hub renders for it with that language's Renderer (WithLanguages). The
// cost of an event grows with the languages present, not the readers.

// JoinOption changes how a socket joins a room.
type JoinOption func(*Socket)

// InLanguage joins the socket in language lang: it gets every event as
// the Renderer that WithLanguages gives for lang renders it (the hub's
// default Renderer when it gives none).
func InLanguage(lang string) JoinOption {
	return func(s *Socket) { s.lang = lang }
}

// WithLanguages gives the hub a Renderer for each language its sockets
// may join in; a socket in any other language reads fallback's.
func WithLanguages(renderers map[string]Renderer, fallback string) HubOption {
	return func(h *Hub) { h.renderers, h.fallback = renderers, fallback }
}

// language is lang as the hub renders for it: fallback when it has no
// Renderer of its own, so that its sockets share fallback's bytes.
func (h *Hub) language(lang string) string {
	if _, ok := h.renderers[lang]; ok || h.renderers == nil {
		return lang
	}
	return h.fallback
}

// renderer is the Renderer of language lang.
func (h *Hub) renderer(lang string) Renderer {
	if r, ok := h.renderers[lang]; ok {
		return r
	}
	return h.render
}

// rendition is one event as bytes, in each language a socket that gets
// it reads: rendered the first time a socket in that language needs it,
// then the same bytes for every socket in that language.
//
// Its mu is taken last, after any other lock (a socket's included), and
// held only while the event is rendered in one language: CPU, no I/O.
type rendition struct {
	render func(Renderer) []byte

	mu   sync.Mutex
	done []renderedIn // one per language rendered; there are few
}

type renderedIn struct {
	lang string
	data []byte
}

// renderAs is the event that render makes of a Renderer, for every
// language.
func renderAs(render func(Renderer) []byte) *rendition {
	return &rendition{render: render}
}

// by returns the event as socket s reads it, rendering it the first time
// a socket in its language needs it.
func (o *rendition) by(s *Socket) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range o.done {
		if d.lang == s.lang {
			return d.data
		}
	}
	data := o.render(s.render)
	o.done = append(o.done, renderedIn{lang: s.lang, data: data})
	return data
}
