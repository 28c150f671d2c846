// Package static holds the browser's files: htmx 4 and its ws extension
// (vendored, see VENDOR.md), the stylesheet and the page's small script.
package static

import "embed"

// FS is served under /static/.
//
//go:embed *.js *.css *.svg
var FS embed.FS
