package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/a-h/templ"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/handlers/transport"
	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Fragments renders the hub's events as the HTML fragments the page swaps
// in, each a whole WebSocket message ready to write (framed). It
// implements realtime.Renderer.
type Fragments struct {
	// Verified says that everyone in the rooms signed in with a verified
	// identity (AUTH): member lists mark them so.
	Verified bool
	// Handle turns a message's author into its author handle
	// (data-author), the same for every socket: AuthorHandles under the
	// server's secret. nil: messages carry none.
	Handle func(author string) string
	// Printer writes what the fragments say, in its language; nil:
	// English.
	Printer *i18n.Printer
}

// Languages returns f in each language of catalog, by language: what the
// hub renders a room's events with, once per language read in it.
func (f Fragments) Languages(catalog *i18n.Catalog) map[string]realtime.Renderer {
	out := map[string]realtime.Renderer{}
	for _, l := range i18n.Langs() {
		g := f
		g.Printer = catalog.Printer(l)
		out[string(l)] = g
	}
	return out
}

// ctx is what fragments render in: f's language.
func (f Fragments) ctx() context.Context {
	if f.Printer == nil {
		return context.Background()
	}
	return i18n.WithPrinter(context.Background(), f.Printer)
}

// Message appends m to #messages.
func (f Fragments) Message(m realtime.Message) []byte {
	return framed(f.ctx(), views.MessageOOB(viewMessage(m, f.Handle, nil)))
}

// Presence adds "name entered the room." and "name left the room." to
// #notices, then replaces the items of #members: one message, so the
// page's list and notices change together.
func (f Fragments) Presence(entered, left, names []string) []byte {
	return framed(f.ctx(), templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		for _, n := range entered {
			if err := views.NoticeOOB(i18n.T(ctx, "notice.entered", "Name", n)).Render(ctx, w); err != nil {
				return err
			}
		}
		for _, n := range left {
			if err := views.NoticeOOB(i18n.T(ctx, "notice.left", "Name", n)).Render(ctx, w); err != nil {
				return err
			}
		}
		return views.MemberList(names, true, f.Verified, views.MemberTools{}).Render(ctx, w)
	}))
}

// MemberList replaces the items of #members.
func (f Fragments) MemberList(names []string) []byte {
	return framed(f.ctx(), views.MemberList(names, true, f.Verified, views.MemberTools{}))
}

// Availability is the signal that says whether the room takes messages.
func (f Fragments) Availability(ok bool) []byte {
	return framed(f.ctx(), views.AvailabilityOOB(ok))
}

// Directory is the room directory for a page in room, in place of the
// page's (the directory every visitor sees: no private room).
func (f Fragments) Directory(rooms []realtime.RoomCount, room string) []byte {
	return framed(f.ctx(), views.RoomListOOB(publicRooms(rooms), room))
}

// Typing is the signal that each of names is typing.
func (f Fragments) Typing(names []string) []byte {
	return framed(f.ctx(), views.TypingOOB(names))
}

// MessageList replaces the content of #messages.
func (f Fragments) MessageList(msgs []realtime.Message) []byte {
	return framed(f.ctx(), views.MessageListOOB(viewMessages(msgs, f.Handle)))
}

// framed renders c in ctx's language as one WebSocket text message,
// header included: what the hub writes to sockets as it is.
func framed(ctx context.Context, c templ.Component) []byte {
	buf := bytes.NewBuffer(make([]byte, transport.MaxFrameHeader, 512))
	// Rendering into memory fails only if a component is broken: a bug.
	if err := c.Render(ctx, buf); err != nil {
		panic("render fragment: " + err.Error())
	}
	return transport.TextFrame(buf.Bytes())
}

// renderBytes renders c in ctx's language.
func renderBytes(ctx context.Context, c templ.Component) []byte {
	var buf bytes.Buffer
	// Rendering into memory fails only if a component is broken: a bug.
	if err := c.Render(ctx, &buf); err != nil {
		panic("render fragment: " + err.Error())
	}
	return buf.Bytes()
}

// viewMessage is m as pages show it: its author as a handle (handle nil:
// none), and a deleted message without its text or reactions. A reply
// quotes the message it answers as known: from others (the list it is
// shown in, as they are now), else as stored with it.
func viewMessage(m realtime.Message, handle func(string) string, others map[int64]realtime.Message) views.Message {
	v := views.Message{Seq: m.Seq, Name: m.Name, Text: m.Text, Time: m.Time, Verified: m.Verified, Edited: m.Edited, Deleted: string(m.Deleted)}
	if v.Deleted != "" {
		v.Text, v.Edited, v.Verified = "", time.Time{}, false
		return v
	}
	if handle != nil {
		v.Author = handle(m.Author)
	}
	for _, f := range m.Files {
		v.Files = append(v.Files, views.File{ID: f.ID, Name: f.Name, Kind: files.Label(f.Type, f.Name), Size: f.Size,
			Image: f.Image, Width: f.Width, Height: f.Height})
	}
	for _, r := range m.Reactions {
		vr := views.Reaction{Emoji: r.Emoji, Names: r.Names}
		if handle != nil {
			vr.Handles = make([]string, len(r.Authors))
			for i, a := range r.Authors {
				vr.Handles[i] = handle(a)
			}
		}
		v.Reactions = append(v.Reactions, vr)
	}
	if m.ReplyTo > 0 {
		switch orig, ok := others[m.ReplyTo]; {
		case ok:
			v.Reply = viewQuote(m.ReplyTo, realtime.QuoteOf(orig))
		case m.Quote != nil:
			v.Reply = viewQuote(m.ReplyTo, *m.Quote)
		default:
			v.Reply = &views.Quote{Seq: m.ReplyTo}
		}
	}
	return v
}

// viewQuote is q, of message seq, as pages show it.
func viewQuote(seq int64, q realtime.Quote) *views.Quote {
	return &views.Quote{Seq: seq, Name: q.Name, Text: q.Text, Deleted: string(q.Deleted)}
}

// viewMessages is msgs as pages show them, the replies among them quoting
// the messages they answer as the list has them.
func viewMessages(msgs []realtime.Message, handle func(string) string) []views.Message {
	var bySeq map[int64]realtime.Message
	for _, m := range msgs {
		if m.ReplyTo > 0 {
			bySeq = make(map[int64]realtime.Message, len(msgs))
			for _, x := range msgs {
				bySeq[x.Seq] = x
			}
			break
		}
	}
	out := make([]views.Message, len(msgs))
	for i, m := range msgs {
		out[i] = viewMessage(m, handle, bySeq)
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

// fragment writes c alone, in r's language: an answer htmx swaps into the
// page.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.log.Error("render fragment", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// Changed puts an edited or deleted message in place of li#msg-{seq},
// morphed out of band; a page that does not show it skips it.
//
// An edit or a deletion also tells the page's script what replies to it
// show now (QuoteOOB), wherever they are on the page.
func (f Fragments) Changed(m realtime.Message) []byte {
	changed := views.ChangedOOB(viewMessage(m, f.Handle, nil))
	if m.Deleted == "" && m.Edited.IsZero() {
		return framed(f.ctx(), changed)
	}
	quote := views.QuoteOOB(*viewQuote(m.Seq, realtime.QuoteOf(m)))
	return framed(f.ctx(), templ.Join(changed, quote))
}

// Removed says that a moderator removed name from the room.
func (f Fragments) Removed(name string) []byte {
	ctx := f.ctx()
	return framed(ctx, views.NoticeOOB(i18n.T(ctx, "notice.removed", "Name", name)))
}
