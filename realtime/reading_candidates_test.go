package realtime

import (
	"slices"
	"testing"
)

// A name is mentioned exactly when its folded form is among the text's
// candidates: the Redis broker looks people up by those, and Mentions is
// the rule.
func TestMentionCandidatesAgreeWithMentions(t *testing.T) {
	names := []string{"Ann", "ann", "ANN", "Ann Lee", "小明", "小明明", "Zoë", "ZOË", "bob_2", "Σίσυφος", "σίσυφοσ", "x", "a-b", "O'Neil", "dz"}
	texts := []string{
		"@Ann hi", "@ann, hi", "hi @ANN", "@Ann Lee said", "@Annie no", "@Ann_ no", "@小明，你好", "@小明明 在嗎",
		"@Zoë!", "@zoë", "mail ann@example.com", "@bob_2.", "@bob_23", "@Σίσυφος?", "@x", "@a-b-c", "@O'Neil's", "@@Ann",
		"no mention", "", "@", "@Ǆ", "@ǅ text",
	}
	for _, text := range texts {
		cands := MentionCandidates(text)
		for _, name := range names {
			if got, want := slices.Contains(cands, FoldName(name)), Mentions(text, name); got != want {
				t.Errorf("%q mentions %q: Mentions says %v, the candidates %v", text, name, want, got)
			}
		}
	}
}
