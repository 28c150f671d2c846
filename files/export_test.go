package files

import (
	"bufio"
	"io"
)

// Filter exposes the location-stripping filter of a picture to the
// external tests (which use filestest, which imports this package).
func Filter(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 4096)
	head, _ := br.Peek(16)
	return newFilter(sniff(head), br)
}
