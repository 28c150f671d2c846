// Package static holds the browser's files: htmx 4 and its ws extension
// (vendored, see VENDOR.md), the stylesheet and the page's small script.
// The app's icons under icons/ are drawn by cmd/icongen.
package static

import "embed"

// FS is served under /static/.
//
//go:embed *.js *.css *.svg icons/*.png
var FS embed.FS
