package i18n

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/longbridgeapp/opencc"
)

// messages reads lang's catalogs as a translator wrote them: each id's
// text, its plural forms joined.
func messages(t *testing.T, lang Lang) map[string]string {
	t.Helper()
	files, err := fs.Glob(locales, "locales/*."+string(lang)+".toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s catalogs: %v", lang, err)
	}
	out := map[string]string{}
	for _, name := range files {
		var raw map[string]any
		if _, err := toml.DecodeFS(locales, name, &raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		flatten(out, "", raw)
	}
	return out
}

var pluralForms = []string{"zero", "one", "two", "few", "many", "other"}

// flatten adds the messages of a TOML table under prefix: a table of
// plural forms is one message, any other table a section.
func flatten(out map[string]string, prefix string, table map[string]any) {
	for k, v := range table {
		id := strings.TrimPrefix(prefix+"."+k, ".")
		switch v := v.(type) {
		case string:
			out[id] = v
		case map[string]any:
			if isPlural(v) {
				var forms []string
				for _, f := range pluralForms {
					if s, ok := v[f].(string); ok {
						forms = append(forms, s)
					}
				}
				out[id] = strings.Join(forms, "\n")
				continue
			}
			flatten(out, id, v)
		}
	}
}

func isPlural(v map[string]any) bool {
	for k := range v {
		if !slices.Contains(pluralForms, k) && k != "description" {
			return false
		}
	}
	return true
}

var field = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

func fields(s string) []string {
	var out []string
	for _, m := range field.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// TestCatalogsMatch: a sentence exists in one language only when it
// exists in the other, with the same names and counts in it.
func TestCatalogsMatch(t *testing.T) {
	en, zh := messages(t, English), messages(t, TraditionalChinese)
	for id, s := range en {
		z, ok := zh[id]
		if !ok {
			t.Errorf("%q is in the English catalogs and not in the Chinese ones", id)
			continue
		}
		if fe, fz := fields(s), fields(z); !slices.Equal(fe, fz) {
			t.Errorf("%q: English fills %v, Chinese %v", id, fe, fz)
		}
		if strings.TrimSpace(z) == "" {
			t.Errorf("%q is empty in Chinese", id)
		}
	}
	for id := range zh {
		if _, ok := en[id]; !ok {
			t.Errorf("%q is in the Chinese catalogs and not in the English ones", id)
		}
	}
	c := Default()
	if got, want := c.IDs(TraditionalChinese), c.IDs(English); !slices.Equal(got, want) {
		t.Errorf("the catalog loads %d Chinese messages and %d English ones", len(got), len(want))
	}
}

// openccDictionary reads one of OpenCC's tables, as
// github.com/longbridgeapp/opencc carries them: each line a word, a tab,
// and what it becomes, candidates split by spaces.
func openccDictionary(t *testing.T, name string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/longbridgeapp/opencc").Output()
	if err != nil {
		t.Fatalf("find OpenCC's tables: go list: %v", err)
	}
	f, err := os.Open(filepath.Join(strings.TrimSpace(string(out)), "dictionary", name))
	if err != nil {
		t.Fatalf("OpenCC's tables: %v", err)
	}
	defer f.Close()
	dict := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), "\t")
		if ok {
			dict[from] = strings.Fields(to)
		}
	}
	if err := sc.Err(); err != nil || len(dict) == 0 {
		t.Fatalf("read OpenCC's %s: %d entries, %v", name, len(dict), err)
	}
	return dict
}

// TestChineseIsTraditional: the Chinese catalogs hold no character that
// exists only in Simplified Chinese, by OpenCC's table of Simplified
// characters (STCharacters: a character whose Traditional forms do not
// include itself), and none of the mainland words that OpenCC turns into
// Taiwan's (TWPhrases, TWPhrasesIT: 信息 for 訊息, 登錄 for 登入, 發送 for
// 傳送 …).
func TestChineseIsTraditional(t *testing.T) {
	chars := openccDictionary(t, "STCharacters.txt")
	words := openccDictionary(t, "TWPhrases.txt")
	for k, v := range openccDictionary(t, "TWPhrasesIT.txt") {
		words[k] = v
	}
	s2t, err := opencc.New("s2t")
	if err != nil {
		t.Fatal(err)
	}
	hans := 0
	for id, s := range messages(t, TraditionalChinese) {
		for _, r := range s {
			if !unicode.Is(unicode.Han, r) {
				continue
			}
			hans++
			c := string(r)
			if trad, ok := chars[c]; ok && !slices.Contains(trad, c) {
				fixed, _ := s2t.Convert(c)
				t.Errorf("%q: %s is Simplified (Traditional: %s): %s", id, c, fixed, s)
			}
		}
		for w, tw := range words {
			// A word Taiwan also writes as it is (數字 for digits, 數位 for
			// digital) is not a mainland word.
			if strings.Contains(s, w) && !slices.Contains(tw, w) {
				t.Errorf("%q: %s is a mainland word; Taiwan writes %s: %s", id, w, strings.Join(tw, " or "), s)
			}
		}
	}
	if hans == 0 {
		t.Fatal("the Chinese catalogs hold no Chinese")
	}
	// The check itself catches Simplified text.
	for _, bad := range []string{"发送", "们", "这", "说", "时"} {
		found := false
		for _, r := range bad {
			if trad, ok := chars[string(r)]; ok && !slices.Contains(trad, string(r)) {
				found = true
			}
		}
		if !found {
			t.Errorf("the check misses %s", bad)
		}
	}
}

// TestMessagesUsedExist: every message the code names (a literal id in
// i18n.T, i18n.N, the views' t and n, the script's say) is in the
// catalogs, so that no page shows an id instead of a sentence.
func TestMessagesUsedExist(t *testing.T) {
	ids := map[string]bool{}
	for _, id := range Default().IDs(English) {
		ids[id] = true
	}
	goCall := regexp.MustCompile(`(?:\bi18n\.[TN]|\b[tn]|\.T|\.N)\((?:ctx|r\.Context\(\)|[a-zA-Z.]+\(\)|[a-z]+)(?:, [a-zA-Z0-9.]+)?, "([a-z0-9_]+(?:\.[a-z0-9_]+)+)"`)
	jsCall := regexp.MustCompile(`\bsay\(\s*['"]([^'"]+)['"]`)
	root := ".."
	used := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		var re *regexp.Regexp
		prefix := ""
		switch {
		case strings.HasSuffix(path, "_templ.go"), strings.HasSuffix(path, "_test.go"):
			return nil
		case strings.HasSuffix(path, ".go"), strings.HasSuffix(path, ".templ"):
			re = goCall
		case strings.HasSuffix(path, ".js") && strings.Contains(path, "static"):
			re, prefix = jsCall, "js."
		default:
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			used++
			if !ids[prefix+m[1]] {
				t.Errorf("%s names %q, which no catalog holds", path, prefix+m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if used == 0 {
		t.Fatal("found no message named in the code")
	}
	t.Logf("%d uses of %d messages", used, len(ids))
}
