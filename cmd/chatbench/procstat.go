package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTicks is sysconf(_SC_CLK_TCK): /proc reports CPU time in these. It is
// 100 on every Linux architecture (USER_HZ), whatever the kernel's HZ.
const clockTicks = 100

// procSample is a server process's resident memory and CPU time so far.
type procSample struct {
	RSSKB int64   // VmRSS, kB
	CPU   float64 // utime + stime, seconds
	Err   string  // why it could not be read
}

// sampleProc reads /proc/<pid>/status and /proc/<pid>/stat.
func sampleProc(pid int) procSample {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{Err: err.Error()}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{Err: err.Error()}
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return procSample{Err: err.Error()}
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procSample{Err: err.Error()}
	}
	return procSample{RSSKB: rss, CPU: cpu}
}

// parseVmRSS returns the "VmRSS:  1234 kB" line's number.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(string(f[0]), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc status")
}

// parseStatCPU returns utime+stime (fields 14 and 15) in seconds. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	return float64(utime+stime) / clockTicks, nil
}

// selfCPU is this process's user+system CPU time, so that readers can judge
// whether the generator, not the server, was the bottleneck.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	d := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return d.Seconds()
}
