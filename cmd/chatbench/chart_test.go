package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChart(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs.jsonl")
	lines := `{"rooms":50,"members":40,"senders":1,"rate":25,"deliveries_per_s":49990,"latency_p99_ms":21.7,"lost":0}
# a comment line
{"rooms":50,"members":40,"senders":1,"rate":50,"deliveries_per_s":97000,"latency_p99_ms":700,"lost":18}
{"rooms":1,"members":1000,"senders":5,"rate":20,"deliveries_per_s":99969,"latency_p99_ms":78.9,"lost":0}
`
	if err := os.WriteFile(runs, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "chart.svg")
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"chatbench", "chart", "-o", out, runs}, &stdout); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "50 rooms × 40 members, 1 sender(s)/room", "1 rooms × 1000 members, 5 sender(s)/room", "<polyline", "</svg>"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if n := strings.Count(string(svg), "<circle"); n != 3 {
		t.Errorf("%d points drawn, want 3", n)
	}
	if !strings.Contains(stdout.String(), "from 3 runs") {
		t.Errorf("stdout: %q", stdout.String())
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 7: 10, 120: 200, 250000: 500000, 99969: 100000, 3.2: 5} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}
