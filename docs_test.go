package chat

// The documentation, held to the code: the documents are there and whole,
// every environment variable the service reads has a row in the
// configuration tables of README.md and docs/SPEC.md (and every row is
// read), relative links lead somewhere, and the deploy commands set only
// variables the service reads, with a request timeout that outlasts the
// sockets' maximum age. The variables come from the code itself, parsed,
// not from a list kept here.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// docFiles must exist and be more than a stub: a file emptied or cut short
// by mistake fails here. The thresholds are about half of what each file
// holds today.
var docFiles = []struct {
	path               string
	minBytes, minLines int
}{
	{"README.md", 20000, 300},
	{"docs/SPEC.md", 20000, 300},
	{"SECURITY.md", 8000, 80},
	{"docs/PERFORMANCE.md", 20000, 300},
	{"deploy/README.md", 12000, 250},
}

func TestDocsAreThere(t *testing.T) {
	for _, d := range docFiles {
		b, err := os.ReadFile(d.path)
		if err != nil {
			t.Errorf("%s: %v", d.path, err)
			continue
		}
		lines := bytes.Count(b, []byte("\n"))
		if len(b) < d.minBytes || lines < d.minLines {
			t.Errorf("%s holds %d bytes in %d lines, want at least %d bytes and %d lines: was it emptied or cut short?",
				d.path, len(b), lines, d.minBytes, d.minLines)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return // reported above
	}
	for _, cmd := range []string{"go run ./cmd/chat", "go test ./..."} {
		if !bytes.Contains(readme, []byte(cmd)) {
			t.Errorf("README.md does not hold %q: its first screen must give the commands that run and test the chat", cmd)
		}
	}
}

// configDocs are the documents whose "## Configuration" table must list
// every variable the service reads, and nothing else.
var configDocs = []string{"README.md", "docs/SPEC.md"}

func TestDocsConfigurationTables(t *testing.T) {
	code := scanCode(t)
	for _, doc := range configDocs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		table, err := configTable(doc, string(text))
		if err != nil {
			t.Error(err)
			continue
		}
		for _, name := range sortedKeys(code.reads) {
			if _, ok := table.rows[name]; !ok {
				t.Errorf("%s: the configuration table (line %d, under %q) has no row for %s, which the code reads at %s",
					doc, table.line, table.heading, name, strings.Join(code.reads[name], ", "))
			}
		}
		for _, name := range sortedKeys(table.rows) {
			if _, ok := code.reads[name]; !ok {
				t.Errorf("%s:%d: the configuration table lists %s, which no package of ./cmd/chat reads (with os.Getenv, os.LookupEnv or a getenv function)",
					doc, table.rows[name], name)
			}
		}
	}
}

func TestDocsRelativeLinks(t *testing.T) {
	files := []string{"README.md", "docs/SPEC.md", "SECURITY.md", "docs/PERFORMANCE.md"}
	deployDocs, _ := filepath.Glob("deploy/*.md")
	files = append(files, deployDocs...)
	anchors := map[string]map[string]bool{} // per Markdown file, its headings' anchors
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		anchors[path] = headingAnchors(string(b))
		return anchors[path], nil
	}
	checked := 0
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		for _, l := range markdownLinks(string(text)) {
			if scheme.MatchString(l.target) {
				continue // http:, https:, mailto:
			}
			checked++
			path, anchor, _ := strings.Cut(l.target, "#")
			if p, err := url.PathUnescape(path); err == nil {
				path = p
			}
			target := file // a link to "#anchor" stays in the file
			if path != "" {
				if strings.HasPrefix(path, "/") {
					target = filepath.FromSlash(strings.TrimPrefix(path, "/"))
				} else {
					target = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				}
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s:%d: the link %q leads nowhere: %s does not exist", file, l.line, l.target, filepath.ToSlash(target))
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				t.Errorf("%s:%d: the link %q: %v", file, l.line, l.target, err)
				continue
			}
			if u, err := url.PathUnescape(anchor); err == nil {
				anchor = u
			}
			if !a[strings.ToLower(anchor)] {
				t.Errorf("%s:%d: the link %q leads to no heading: %s has no #%s", file, l.line, l.target, filepath.ToSlash(target), anchor)
			}
		}
	}
	if checked == 0 {
		t.Errorf("found no relative link in %v: the link reader is broken", files)
	}
}

// wantTimeout is the request timeout the deploy commands give the
// service: the longest Cloud Run allows.
const wantTimeout = 3600 * time.Second

func TestDocsDeployCommands(t *testing.T) {
	code := scanCode(t)
	// The runbooks, whose deploy commands are checked whole; and every
	// other document that holds gcloud commands, whose settings are.
	runbooks := []string{"README.md"}
	for _, pattern := range []string{"deploy/*.md", "deploy/*.sh"} {
		m, _ := filepath.Glob(pattern)
		runbooks = append(runbooks, m...)
	}
	withGcloud := slices.Clone(runbooks)
	for _, doc := range []string{"SECURITY.md", "docs/SPEC.md", "docs/PERFORMANCE.md"} {
		if b, err := os.ReadFile(doc); err == nil && bytes.Contains(b, []byte("gcloud ")) {
			withGcloud = append(withGcloud, doc)
		}
	}
	texts := map[string]string{}
	for _, file := range withGcloud {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		texts[file] = string(b)
	}

	// Every variable a command sets, commented-out variants included, is
	// one the service reads.
	for _, file := range withGcloud {
		for i, line := range strings.Split(texts[file], "\n") {
			for _, m := range envFlag.FindAllStringSubmatch(line, -1) {
				flag, value := "--"+m[1], strings.Trim(m[2], `"'`)
				for entry := range strings.SplitSeq(value, ",") {
					entry = strings.TrimSpace(entry)
					if entry == "" || (strings.HasSuffix(flag, "secrets") && strings.HasPrefix(entry, "/")) {
						continue // a secret mounted as a file
					}
					name, _, ok := strings.Cut(entry, "=")
					switch {
					case !ok:
						t.Errorf("%s:%d: %s holds %q, with no '=': which variable does it set?", file, i+1, flag, entry)
					case !envName.MatchString(name):
						t.Errorf("%s:%d: %s sets %q, which is not a variable name", file, i+1, flag, name)
					case code.reads[name] == nil:
						t.Errorf("%s:%d: %s sets %s, which no package of ./cmd/chat reads: a typo, or a setting that no longer exists", file, i+1, flag, name)
					}
				}
			}
		}
	}

	// Every deploy command, in any document, asks for the longest timeout.
	var cmds []shellCommand
	for _, file := range withGcloud {
		cmds = append(cmds, deployCommands(file, texts[file])...)
	}
	if len(cmds) == 0 {
		t.Fatalf("no `gcloud run deploy` command in a code block of %v", withGcloud)
	}
	for _, c := range cmds {
		m := timeoutFlag.FindStringSubmatch(c.text)
		if m == nil {
			t.Errorf("%s:%d: gcloud run deploy without --timeout=3600: Cloud Run's default timeout, 5 minutes, would cut every WebSocket without a close frame", c.file, c.line)
			continue
		}
		if d, ok := parseTimeout(m[1]); !ok || d != wantTimeout {
			t.Errorf("%s:%d: gcloud run deploy has --timeout=%s, want --timeout=3600 (Cloud Run's longest), which SOCKET_MAX_AGE's default is measured against", c.file, c.line, m[1])
		}
	}

	// SOCKET_MAX_AGE's default, at the far end of its jitter, closes a
	// socket before that timeout would cut it.
	def, at, err := code.duration("defaultSocketMaxAge")
	jitter, jat, jerr := code.float("maxAgeJitter")
	switch {
	case err != nil:
		t.Error(err)
	case jerr != nil:
		t.Error(jerr)
	case jitter <= 0 || jitter > 0.10:
		t.Errorf("%s: maxAgeJitter is %v, want more than 0 and at most 0.10 (docs/SPEC.md: within ±10 %%)", jat, jitter)
	default:
		if longest := def + time.Duration(float64(def)*jitter); longest >= wantTimeout {
			t.Errorf("%s: defaultSocketMaxAge is %v: drawn within ±%.1f %% (%s), a socket may stay open %v, not under the deploy commands' --timeout=3600 (%v, %s:%d), so Cloud Run would cut it without a close frame before the server closes it with 1012; the default must be under %v",
				at, def, jitter*100, jat, longest, wantTimeout, cmds[0].file, cmds[0].line,
				time.Duration(float64(wantTimeout)/(1+jitter)).Truncate(time.Second))
		}
	}

	// The README's deploy command is deploy/README.md's, not a copy
	// drifting apart from it.
	runbook := map[string]bool{}
	for _, c := range deployCommands("deploy/README.md", texts["deploy/README.md"]) {
		runbook[strings.Join(strings.Fields(c.text), " ")] = true
	}
	for _, c := range cmds {
		if c.file == "README.md" && !runbook[strings.Join(strings.Fields(c.text), " ")] {
			t.Errorf("README.md:%d: this gcloud run deploy command is not, word for word, one of deploy/README.md's: keep the README's summary and the runbook the same", c.line)
		}
	}
}

var (
	envName     = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	envFlag     = regexp.MustCompile("--((?:set|update)-(?:env-vars|secrets))=(\"[^\"]*\"|'[^']*'|[^\\s`\\\\]+)")
	timeoutFlag = regexp.MustCompile(`(?:^|\s)--timeout[= ](\S+)`)
	deployCmd   = regexp.MustCompile(`^gcloud\s+(?:(?:beta|alpha)\s+)?run\s+deploy\b`)
	scheme      = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	mdLink      = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	tableName   = regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
)

// codeFacts is what the test reads from the service's own source.
type codeFacts struct {
	// reads maps each environment variable the code reads to where.
	reads map[string][]string
	// consts are the package-level constants, by name, for their values.
	consts map[string]constDecl
}

type constDecl struct {
	expr ast.Expr
	at   string
}

var (
	codeOnce sync.Once
	code     codeFacts
	codeErr  error
)

// scanCode parses the non-test Go files of the module's own packages that
// ./cmd/chat links (those left out by build tags, such as the pprof
// build's, included), once for all the tests.
func scanCode(t *testing.T) codeFacts {
	t.Helper()
	codeOnce.Do(func() { code, codeErr = readCode() })
	if codeErr != nil {
		t.Fatal(codeErr)
	}
	if len(code.reads) < 20 {
		t.Fatalf("found only %d environment variables read by ./cmd/chat's packages (%v): the code's reader is broken, or the service lost its configuration",
			len(code.reads), sortedKeys(code.reads))
	}
	return code
}

func readCode() (codeFacts, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,CgoFiles,IgnoredGoFiles,Module", "./cmd/chat")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return codeFacts{}, fmt.Errorf("go list -deps ./cmd/chat: %v\n%s", err, stderr.Bytes())
	}
	root, err := os.Getwd()
	if err != nil {
		return codeFacts{}, err
	}
	facts := codeFacts{reads: map[string][]string{}, consts: map[string]constDecl{}}
	fset := token.NewFileSet()
	dec := json.NewDecoder(bytes.NewReader(out))
	packages := 0
	for dec.More() {
		var p struct {
			ImportPath, Dir                   string
			GoFiles, CgoFiles, IgnoredGoFiles []string
			Module                            *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			return codeFacts{}, fmt.Errorf("go list's output: %v", err)
		}
		if p.Module == nil || !p.Module.Main {
			continue // the standard library, or another module
		}
		packages++
		var files []*ast.File
		for _, name := range slices.Concat(p.GoFiles, p.CgoFiles, p.IgnoredGoFiles) {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				return codeFacts{}, err
			}
			files = append(files, f)
		}
		// The package's string constants, so that getenv(someConst) counts.
		strs := map[string]string{}
		for _, f := range files {
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i >= len(vs.Values) {
							continue
						}
						facts.consts[n.Name] = constDecl{vs.Values[i], where(fset, root, n.Pos())}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							strs[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
		for _, f := range files {
			for key, pos := range envKeys(f, strs) {
				facts.reads[key] = append(facts.reads[key], where(fset, root, pos))
			}
		}
	}
	if packages == 0 {
		return codeFacts{}, fmt.Errorf("go list -deps ./cmd/chat listed none of the module's own packages")
	}
	return facts, nil
}

// envKeys returns the environment variables f reads, each with one place:
// the key given to os.Getenv, os.LookupEnv or a function value named
// getenv, or the key that follows getenv when it is passed on, as in
// envOr(getenv, "PORT", "8080").
func envKeys(f *ast.File, strs map[string]string) map[string]token.Pos {
	osName := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == `"os"` {
			osName = "os"
			if imp.Name != nil {
				osName = imp.Name.Name
			}
		}
	}
	isEnvFunc := func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.Ident:
			return e.Name == "getenv"
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok && osName != "" && x.Name == osName {
				return e.Sel.Name == "Getenv" || e.Sel.Name == "LookupEnv"
			}
			return e.Sel.Name == "getenv"
		}
		return false
	}
	keys := map[string]token.Pos{}
	add := func(e ast.Expr) {
		var s string
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return
			}
			s, _ = strconv.Unquote(e.Value)
		case *ast.Ident:
			s = strs[e.Name]
		}
		if envName.MatchString(s) {
			if _, ok := keys[s]; !ok {
				keys[s] = e.Pos()
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if isEnvFunc(call.Fun) && len(call.Args) > 0 {
			add(call.Args[0])
		}
		for i, arg := range call.Args {
			if isEnvFunc(arg) && i+1 < len(call.Args) {
				add(call.Args[i+1])
			}
		}
		return true
	})
	return keys
}

// duration evaluates the package-level constant name, a time.Duration
// written as a product or sum of numbers and time's units.
func (c codeFacts) duration(name string) (time.Duration, string, error) {
	d, ok := c.consts[name]
	if !ok {
		return 0, "", fmt.Errorf("no constant %s in ./cmd/chat's packages: where is SOCKET_MAX_AGE's default?", name)
	}
	v, ok := evalDuration(d.expr)
	if !ok {
		return 0, d.at, fmt.Errorf("%s: cannot evaluate %s as a duration", d.at, name)
	}
	return v, d.at, nil
}

// float is the value of the package-level constant name, a float literal.
func (c codeFacts) float(name string) (float64, string, error) {
	d, ok := c.consts[name]
	if !ok {
		return 0, "", fmt.Errorf("no constant %s in ./cmd/chat's packages", name)
	}
	lit, ok := d.expr.(*ast.BasicLit)
	if !ok || (lit.Kind != token.FLOAT && lit.Kind != token.INT) {
		return 0, d.at, fmt.Errorf("%s: %s is not a number literal", d.at, name)
	}
	v, err := strconv.ParseFloat(lit.Value, 64)
	return v, d.at, err
}

var timeUnits = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

func evalDuration(e ast.Expr) (time.Duration, bool) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return evalDuration(e.X)
	case *ast.BasicLit:
		if e.Kind == token.INT {
			n, err := strconv.ParseInt(e.Value, 0, 64)
			return time.Duration(n), err == nil
		}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == "time" {
			d, ok := timeUnits[e.Sel.Name]
			return d, ok
		}
	case *ast.CallExpr: // time.Duration(n)
		if len(e.Args) == 1 {
			return evalDuration(e.Args[0])
		}
	case *ast.BinaryExpr:
		x, ok1 := evalDuration(e.X)
		y, ok2 := evalDuration(e.Y)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch e.Op {
		case token.MUL:
			return x * y, true
		case token.ADD:
			return x + y, true
		case token.SUB:
			return x - y, true
		}
	}
	return 0, false
}

func where(fset *token.FileSet, root string, pos token.Pos) string {
	p := fset.Position(pos)
	if rel, err := filepath.Rel(root, p.Filename); err == nil {
		p.Filename = filepath.ToSlash(rel)
	}
	return fmt.Sprintf("%s:%d", p.Filename, p.Line)
}

// configTableAt is a document's configuration table: the line of its
// heading, and each variable named in a first cell, with its line.
type configTableAt struct {
	heading string
	line    int
	rows    map[string]int
}

// configTable reads the first table under the heading "## Configuration…".
func configTable(doc, text string) (configTableAt, error) {
	lines := strings.Split(text, "\n")
	inFence := fences(lines)
	t := configTableAt{rows: map[string]int{}}
	start := -1
	for i, l := range lines {
		if !inFence[i] && strings.HasPrefix(l, "## Configuration") {
			t.heading, t.line, start = strings.TrimSpace(l), i+1, i+1
			break
		}
	}
	if start < 0 {
		return t, fmt.Errorf("%s has no heading \"## Configuration\" with the table of environment variables", doc)
	}
	row := 0
	for i := start; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "#") && !inFence[i] && row == 0 {
			break // the next section, and no table
		}
		if !strings.HasPrefix(l, "|") {
			if row > 0 {
				break // the table's end
			}
			continue
		}
		row++
		if row <= 2 {
			continue // the header and the separator
		}
		cells := strings.Split(l, "|")
		names := tableName.FindAllStringSubmatch(cells[1], -1)
		if len(names) == 0 {
			return t, fmt.Errorf("%s:%d: the configuration table's row names no variable in backticks in its first cell", doc, i+1)
		}
		for _, m := range names {
			if prev, ok := t.rows[m[1]]; ok {
				return t, fmt.Errorf("%s:%d: the configuration table lists %s again (first at line %d)", doc, i+1, m[1], prev)
			}
			t.rows[m[1]] = i + 1
		}
	}
	if row <= 2 {
		return t, fmt.Errorf("%s:%d: no table of environment variables under %q", doc, t.line, t.heading)
	}
	return t, nil
}

// fences reports, for each line, whether it belongs to a fenced code
// block (its fences included).
func fences(lines []string) []bool {
	in := make([]bool, len(lines))
	fence := ""
	for i, l := range lines {
		s := strings.TrimLeft(l, " \t")
		if fence == "" {
			for _, f := range []string{"```", "~~~"} {
				if strings.HasPrefix(s, f) {
					n := len(s) - len(strings.TrimLeft(s, f[:1]))
					fence = strings.Repeat(f[:1], n)
					in[i] = true
				}
			}
			continue
		}
		in[i] = true
		if strings.HasPrefix(s, fence) && strings.TrimSpace(strings.TrimLeft(s, fence[:1])) == "" {
			fence = ""
		}
	}
	return in
}

type link struct {
	target string
	line   int
}

// markdownLinks returns the targets of the links and images in text,
// outside code blocks and code spans.
func markdownLinks(text string) []link {
	lines := strings.Split(text, "\n")
	inFence := fences(lines)
	for i := range lines {
		if inFence[i] {
			lines[i] = ""
		}
	}
	prose := withoutCodeSpans(strings.Join(lines, "\n"))
	var links []link
	for _, m := range mdLink.FindAllStringSubmatchIndex(prose, -1) {
		links = append(links, link{
			target: prose[m[2]:m[3]],
			line:   1 + strings.Count(prose[:m[0]], "\n"),
		})
	}
	return links
}

// withoutCodeSpans blanks out `code spans` (which may run over lines, not
// over paragraphs), keeping every line break where it was.
func withoutCodeSpans(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		ticks := strings.Repeat("`", n)
		rest := string(b[i+n:])
		end := strings.Index(rest, ticks)
		if para := strings.Index(rest, "\n\n"); end < 0 || (para >= 0 && para < end) {
			i += n // no closing run in this paragraph: literal backticks
			continue
		}
		for j := i; j < i+n+end+n; j++ {
			if b[j] != '\n' {
				b[j] = ' '
			}
		}
		i += n + end + n
	}
	return string(b)
}

// headingAnchors returns the anchors GitHub gives text's headings (and any
// <a id> or <a name> in it).
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	lines := strings.Split(text, "\n")
	inFence := fences(lines)
	seen := map[string]int{}
	for i, l := range lines {
		if inFence[i] {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(l, -1) {
			anchors[strings.ToLower(m[1])] = true
		}
		h := strings.TrimLeft(l, "#")
		if n := len(l) - len(h); n == 0 || n > 6 || !strings.HasPrefix(h, " ") {
			continue
		}
		s := slug(h)
		if k := seen[s]; k > 0 {
			anchors[fmt.Sprintf("%s-%d", s, k)] = true
		} else {
			anchors[s] = true
		}
		seen[s]++
	}
	return anchors
}

var (
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// slug is GitHub's anchor for a heading: lower case, links by their text,
// punctuation dropped but for - and _, spaces made hyphens.
func slug(heading string) string {
	h := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(heading), "#"))
	h = strings.ToLower(inlineLink.ReplaceAllString(h, "$1"))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// shellCommand is one command of a code block, its continued lines joined.
type shellCommand struct {
	file string
	line int
	text string
}

// deployCommands returns the `gcloud run deploy` commands of text's code
// blocks.
func deployCommands(file, text string) []shellCommand {
	lines := strings.Split(text, "\n")
	inFence := fences(lines)
	if strings.HasSuffix(file, ".sh") {
		inFence = make([]bool, len(lines))
		for i := range inFence {
			inFence[i] = true
		}
	}
	var cmds []shellCommand
	var cur []string
	first := 0
	for i, l := range lines {
		if !inFence[i] {
			cur = nil
			continue
		}
		if len(cur) == 0 {
			first = i + 1
		}
		t := strings.TrimRight(l, " \t")
		if strings.HasSuffix(t, "\\") {
			cur = append(cur, strings.TrimSuffix(t, "\\"))
			continue
		}
		cur = append(cur, t)
		c := strings.TrimSpace(strings.Join(cur, " "))
		cur = nil
		if deployCmd.MatchString(c) {
			cmds = append(cmds, shellCommand{file, first, c})
		}
	}
	return cmds
}

// parseTimeout reads gcloud's --timeout: seconds, or a duration such as
// 60m or 1h.
func parseTimeout(v string) (time.Duration, bool) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
