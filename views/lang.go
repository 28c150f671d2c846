package views

import (
	"context"
	"strings"

	"github.com/chatrun/chat/i18n"
)

type backKey struct{}

// WithBack returns ctx carrying the address of the page being rendered:
// where the language switch brings its reader back to.
func WithBack(ctx context.Context, path string) context.Context {
	return context.WithValue(ctx, backKey{}, path)
}

// back is the address WithBack gave ctx, else the sign-in page.
func back(ctx context.Context) string {
	if p, ok := ctx.Value(backKey{}).(string); ok && strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") {
		return p
	}
	return "/"
}

// t is i18n.T: message id in the language the page is rendered in.
func t(ctx context.Context, id string, args ...any) string { return i18n.T(ctx, id, args...) }

// n is i18n.N: a sentence about count things in the page's language.
func n(ctx context.Context, id string, count int, args ...any) string {
	return i18n.N(ctx, id, count, args...)
}

// pageLang is the page's language as <html lang> and lang attributes take it.
func pageLang(ctx context.Context) string { return i18n.From(ctx).Lang().Tag() }

func isLang(ctx context.Context, l i18n.Lang) bool { return i18n.From(ctx).Lang() == l }

// boolString is b as ARIA states take it.
func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
