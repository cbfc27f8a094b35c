package main

import (
	"bytes"
	"os"
	"strconv"
)

// Linux reports process times in clock ticks; USER_HZ is 100 on every architecture Go supports here.
const clockTicks = 100

// cpuSeconds is utime+stime of every thread of pid, from /proc/<pid>/stat.
func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may contain spaces; fields are counted after its closing parenthesis.
	fields := bytes.Fields(raw[bytes.LastIndexByte(raw, ')')+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	utime, _ := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(fields[12]), 10, 64)
	return float64(utime+stime) / clockTicks
}

// rssBytes is the resident set size of pid, from /proc/<pid>/statm.
func rssBytes(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(raw)
	pages, _ := strconv.ParseInt(string(fields[1]), 10, 64)
	return pages * int64(os.Getpagesize())
}
