package realtime

import (
	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
)

// NameKeys returns the keys under which a name is claimed in a room. Two
// names that share a key look the same to a reader, so they are one name:
// the key is the name's confusable skeleton (Unicode TS #39), taken as
// written, which tells "AIice" (capital i) for "Alice", and after case
// folding, which tells "ALICE" for "Alice". Names come here normalised
// (NFKC, nothing invisible) by the handlers.
func NameKeys(name string) []string {
	asWritten := confusables.Skeleton(name)
	folded := confusables.Skeleton(cases.Fold().String(name))
	if asWritten == folded {
		return []string{folded}
	}
	return []string{asWritten, folded}
}
