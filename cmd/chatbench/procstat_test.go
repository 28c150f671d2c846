package main

import (
	"os"
	"testing"
)

func TestProcParsing(t *testing.T) {
	stat := []byte("1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3.0 {
		t.Errorf("cpu %g, %v; want 3 s (300 ticks)", cpu, err)
	}
	rss, err := parseVmRSS([]byte("Name:\tchat\nVmPeak:\t  9 kB\nVmRSS:\t   12345 kB\nThreads: 4\n"))
	if err != nil || rss != 12345 {
		t.Errorf("rss %d, %v", rss, err)
	}
	if _, err := parseVmRSS([]byte("Name: x\n")); err == nil {
		t.Error("no VmRSS accepted")
	}
	s := sampleProc(os.Getpid())
	if s.Err != "" || s.RSSKB <= 0 {
		t.Errorf("this process: %+v", s)
	}
	if s := sampleProc(1 << 30); s.Err == "" {
		t.Errorf("a missing process: %+v", s)
	}
	if selfCPU() <= 0 {
		t.Error("no CPU time for this process")
	}
}
