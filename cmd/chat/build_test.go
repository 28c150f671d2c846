package main

import (
	"bufio"
	"debug/elf"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dockerBuild returns the environment and arguments of the Dockerfile's
// `go build` step, so that the test builds exactly as the image does.
func dockerBuild(t *testing.T, dockerfile string) (env, args []string) {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "RUN ") || !strings.Contains(line, " go build ") {
			continue
		}
		words := splitShell(strings.TrimPrefix(line, "RUN "))
		i := 0
		for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
			env = append(env, words[i])
		}
		if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
			t.Fatalf("cannot read the build step: %s", line)
		}
		return env, words[i+2:]
	}
	t.Fatal("the Dockerfile has no `go build` step")
	return nil, nil
}

var shellWord = regexp.MustCompile(`(?:[^\s"']+|"[^"]*"|'[^']*')+`)

// splitShell splits a simple shell command line into words, removing quotes.
func splitShell(s string) []string {
	var words []string
	for _, w := range shellWord.FindAllString(s, -1) {
		words = append(words, strings.NewReplacer(`"`, "", `'`, "").Replace(w))
	}
	return words
}

// The image's binary is static, runs as it would on Cloud Run (listening on
// $PORT), and drains on SIGTERM.
func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	root, _ := filepath.Abs("../..")
	dockerfile := filepath.Join(root, "Dockerfile")
	env, args := dockerBuild(t, dockerfile)
	out := filepath.Join(t.TempDir(), "chat")
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			args[i+1] = out
		}
	}
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v with %v: %v\n%s", args, env, err, b)
	}

	bin, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary asks for a dynamic loader: it is not static")
		}
	}
	if libs, _ := bin.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary links %v", libs)
	}

	docker, _ := os.ReadFile(dockerfile)
	for _, want := range []string{"FROM gcr.io/distroless/static", "USER nonroot"} {
		if !strings.Contains(string(docker), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}

	// Run it as Cloud Run would: PORT set, no Redis.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := exec.Command(out)
	srv.Env = []string{"PORT=" + strconv.Itoa(port)}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() { _ = srv.Process.Kill() })
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/health"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the binary did not answer %s within 10 s: %v", url, err)
		}
		select {
		case err := <-exited:
			t.Fatalf("the binary exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exitWithin(t, exited, 8*time.Second, "the binary, after SIGTERM")
}

// exitWithin waits for a process's exit on exited and fails the test if it
// comes with an error, or not within d.
func exitWithin(t *testing.T, exited <-chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("%s exited: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s had not exited after %v", what, d)
	}
}
