package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/views"
)

// langCookie holds the language a reader chose with the switch ("en",
// "zh-TW"): a preference, not a secret, so it is neither signed nor
// sealed. Over HTTPS it is __Host-lang (see prefixed).
const langCookie = "lang"

// langCookieAge is how long a choice of language is kept: a year.
const langCookieAge = 365 * 24 * time.Hour

// language puts the reader's language in the request's context, for
// everything rendered below it: the one chosen with the switch, else the
// best match of Accept-Language, else English (i18n.Negotiate). It also
// gives the context the page's address, where the switch comes back to.
func (s *Server) language(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chosen := ""
		if c, err := r.Cookie(prefixed(r, langCookie)); err == nil {
			chosen = c.Value
		}
		p := s.catalog.Printer(i18n.Negotiate(chosen, r.Header.Get("Accept-Language")))
		w.Header().Set("Content-Language", p.Lang().Tag())
		ctx := i18n.WithPrinter(r.Context(), p)
		ctx = views.WithBack(ctx, pageAddress(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// pageAddress is where the language switch of the page answering r comes
// back to: the page itself when it was fetched; after a form's post, the
// page the form was on (a same-origin Referer), else the sign-in page.
func pageAddress(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
		return localPath(ref.RequestURI())
	}
	return "/"
}

// localPath is p when it is a path on this site, else "/": the switch
// never sends its reader elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}

// switchLanguage serves POST /lang, the language switch: it keeps the
// language chosen (field lang) in the language cookie and sends the
// reader back to the page (field back, a path on this site). Any other
// language is refused with 400.
func (s *Server) switchLanguage(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	l, ok := i18n.Parse(r.PostForm.Get("lang"))
	if !ok {
		s.page(w, r, http.StatusBadRequest, views.ErrorPage(i18n.T(r.Context(), "page.language"), i18n.T(r.Context(), "page.no_such_language")))
		return
	}
	setCookie(w, r, langCookie, string(l), time.Time{}, int(langCookieAge/time.Second))
	http.Redirect(w, r, localPath(r.PostForm.Get("back")), http.StatusSeeOther)
}
