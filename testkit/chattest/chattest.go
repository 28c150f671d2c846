// Package chattest is a browser-less user of a served chat: sign in with a
// cookie jar, post, open pages, the room's WebSocket read frame by frame,
// and the page's list of messages rebuilt from those frames. It speaks to a
// served chat over the network only and imports neither handlers nor the
// hub, so that every package's tests can use it, handlers' internal tests
// included, without an import cycle.
package chattest
