package main

import (
	"github.com/crisp-runtime/crisp/test/bench/internal/procmem"
)

// The points of a run at which podbench measures the runtime's memory.
const (
	// memoryIdle is after the image pull and the warm-up iterations, with
	// no pod left.
	memoryIdle = "idle"
	// memoryLoaded is with the -hold pods running one container each.
	memoryLoaded = "loaded"
)

// memoryPoint is a runtime's memory at one point of a run.
type memoryPoint struct {
	// Pods is how many pods, each with one running container, there were.
	Pods int `json:"pods"`
	// Daemon is the daemon process alone, All the daemon and its helpers.
	Daemon procmem.Usage `json:"daemon"`
	All    procmem.Usage `json:"all"`
	// Helpers lists the pids counted besides the daemon.
	Helpers []int `json:"helpers,omitempty"`
}

// measureMemory reads the memory of the runtime's processes with pods
// pods running.
func measureMemory(s procmem.Selector, pods int) (memoryPoint, error) {
	daemon, all, helpers, err := s.Measure()
	return memoryPoint{Pods: pods, Daemon: daemon, All: all, Helpers: helpers}, err
}
