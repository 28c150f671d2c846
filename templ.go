// Package chat is the root of the chat service: cmd/chat is the binary,
// and README.md says how it is built. This file holds the go:generate line
// that turns views/*.templ into the committed views/*_templ.go.
package chat

//go:generate go tool templ generate
