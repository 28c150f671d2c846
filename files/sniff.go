package files

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
)

// kind is a picture format this service reads, or kindNone.
type kind int

const (
	kindNone kind = iota
	kindPNG
	kindJPEG
	kindGIF
	kindWebP
)

func (k kind) mediaType() string {
	switch k {
	case kindPNG:
		return "image/png"
	case kindJPEG:
		return "image/jpeg"
	case kindGIF:
		return "image/gif"
	case kindWebP:
		return "image/webp"
	}
	return ""
}

// sniff tells a picture from its first bytes, by signature only.
func sniff(head []byte) kind {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return kindPNG
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return kindJPEG
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return kindGIF
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return kindWebP
	}
	return kindNone
}

// detectType is the media type of content that is no picture.
func detectType(head []byte) string {
	if bytes.HasPrefix(head, []byte("%PDF-")) {
		return "application/pdf"
	}
	t := http.DetectContentType(head)
	if mt, params, err := mime.ParseMediaType(t); err == nil && mt == "text/plain" {
		if cs := params["charset"]; cs != "" && cs != "utf-8" {
			return t
		}
		return "text/plain; charset=utf-8"
	}
	return t
}

// activeName says whether name is one a browser or desktop would open as
// a page or drawing, scripts and all.
func activeName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".svg", ".svgz", ".html", ".htm", ".xhtml", ".xht", ".xml", ".shtml",
		".mht", ".mhtml", ".xsl", ".xslt":
		return true
	}
	return false
}

// activeContent says whether content is markup a browser would run:
// http.DetectContentType calls an SVG drawing text/plain, so the first
// tag after any byte-order mark, white space and comments is looked at
// too. A head that is nothing but white space and comments counts as
// markup: what follows is unknown.
func activeContent(head []byte) bool {
	switch t, _, _ := strings.Cut(http.DetectContentType(head), ";"); t {
	case "text/html", "text/xml", "application/xml", "image/svg+xml":
		return true
	}
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for {
		b = bytes.TrimLeft(b, " \t\r\n\f\v")
		if !bytes.HasPrefix(b, []byte("<!--")) {
			break
		}
		end := bytes.Index(b[4:], []byte("-->"))
		if end < 0 {
			return true
		}
		b = b[4+end+3:]
	}
	if len(b) == 0 {
		// Nothing but white space (a text file) is harmless unless
		// comments came first.
		return len(bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n\f\v")) != 0
	}
	lower := bytes.ToLower(b[:min(len(b), 32)])
	// The beginnings of markup a browser would run scripts in.
	for _, p := range [...]string{
		"<svg", "<!doctype", "<html", "<?xml", "<script", "<head", "<body",
		"<iframe", "<object", "<embed", "<xsl", "<style", "<title", "<meta",
		"<link", "<img", "<div", "<a ", "<a>", "<p>", "<table", "<form",
		"<frameset", "<math", "<base", "<!entity",
	} {
		if bytes.HasPrefix(lower, []byte(p)) {
			return true
		}
	}
	return false
}

// claimsPicture says whether the name or declared type says "picture"
// of a kind this service shows. Other image/* types (image/heic,
// image/tiff, image/bmp) are pictures it does not show: kept as plain
// files rather than refused as false pictures.
func claimsPicture(name, declared string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".webp":
		return true
	}
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil {
		return false
	}
	switch mt {
	case "image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/gif",
		"image/webp", "image/apng", "image/x-png":
		return true
	}
	return false
}
