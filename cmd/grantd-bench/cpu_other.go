//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"time"
)

const cpuSource = "not available on this system (Linux only: /proc/<pid>/stat)"

var errNoCPU = errors.New("CPU counters are read from /proc, on Linux only")

func procCPU(int) (time.Duration, error) { return 0, errNoCPU }

func selfCPU() (time.Duration, error) { return 0, errNoCPU }

func dieWithParent(*exec.Cmd) {}
