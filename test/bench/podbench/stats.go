package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The calls podbench times, in the order of a pod's life, and the sums it
// reports besides them.
const (
	callRunPod          = "RunPodSandbox"
	callCreateContainer = "CreateContainer"
	callStartContainer  = "StartContainer"
	callStopContainer   = "StopContainer"
	callRemoveContainer = "RemoveContainer"
	callStopPod         = "StopPodSandbox"
	callRemovePod       = "RemovePodSandbox"
	// sumCreateStart is CreateContainer+StartContainer of one container.
	sumCreateStart = "CreateContainer+StartContainer"
	// sumFromScratch is a pod and its container from nothing to running:
	// RunPodSandbox+CreateContainer+StartContainer.
	sumFromScratch = "RunPodSandbox+CreateContainer+StartContainer"
)

// sample is the wall time of each RPC of one iteration. The container calls
// are zero when the iteration made no container.
type sample struct {
	run, stop, remove                             time.Duration
	create, start, stopContainer, removeContainer time.Duration
}

// total is the iteration's wall time in RPCs.
func (s sample) total() time.Duration {
	return s.run + s.create + s.start + s.stopContainer + s.removeContainer + s.stop + s.remove
}

// callTimes lists the calls (and sums of calls) a sample reports: the pod's
// three, and with a container its four and the two sums.
func (s sample) callTimes(withContainer bool) map[string]time.Duration {
	m := map[string]time.Duration{callRunPod: s.run, callStopPod: s.stop, callRemovePod: s.remove}
	if withContainer {
		m[callCreateContainer] = s.create
		m[callStartContainer] = s.start
		m[callStopContainer] = s.stopContainer
		m[callRemoveContainer] = s.removeContainer
		m[sumCreateStart] = s.create + s.start
		m[sumFromScratch] = s.run + s.create + s.start
	}
	return m
}

// stat summarises the wall times of one call over a run, in milliseconds.
type stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// newStat summarises d (at least one value, in any order).
func newStat(d []time.Duration) stat {
	d = slices.Clone(d)
	slices.Sort(d)
	return stat{N: len(d), Median: ms(median(d)), P90: ms(percentile(d, 90)), Min: ms(d[0]), Max: ms(d[len(d)-1])}
}

// result is what a run prints: iteration wall times in milliseconds, the
// median of each pod RPC, and, in calls_ms, every call's statistics. With a
// container image it also has the image pull and, with memory measurement,
// the runtime's resident memory.
type result struct {
	Label          string  `json:"label"`
	Runtime        string  `json:"runtime"`
	RuntimeVersion string  `json:"runtime_version"`
	Iterations     int     `json:"iterations"`
	MedianMS       float64 `json:"median_ms"`
	P90MS          float64 `json:"p90_ms"`
	MinMS          float64 `json:"min_ms"`
	MaxMS          float64 `json:"max_ms"`
	RunMedianMS    float64 `json:"run_median_ms"`
	StopMedianMS   float64 `json:"stop_median_ms"`
	RemoveMedianMS float64 `json:"remove_median_ms"`
	// Calls has the statistics of each call and sum of calls by name.
	Calls map[string]stat `json:"calls_ms,omitempty"`
	// Image is the container image, PullMS the wall time of its PullImage.
	Image  string  `json:"image,omitempty"`
	PullMS float64 `json:"pull_ms,omitempty"`
	// Memory has the runtime's memory at the points "idle" and "loaded".
	Memory map[string]memoryPoint `json:"memory,omitempty"`
	// Scale is the result of a scale run, which has no iterations.
	Scale *scaleResult `json:"scale,omitempty"`
}

func (r result) String() string {
	var b strings.Builder
	if s := r.Scale; s != nil {
		fmt.Fprintf(&b, "%s (%s %s): %d pods x %d containers up in %.1fs, down in %.1fs | %d rounds in %.0fs: cpu=%.3f cores (daemon %.3f) rss=%dKiB (daemon %dKiB) threads=%d (daemon %d)",
			r.Label, r.Runtime, r.RuntimeVersion, s.Pods, s.Containers, s.UpSeconds, s.DownSeconds, s.Rounds, s.Seconds,
			s.CPUCores, s.DaemonCPUCores, s.All.RSSKiB, s.Daemon.RSSKiB, s.All.Threads, s.Daemon.Threads)
		for _, c := range []string{callListPods, callListContainers, callListStats} {
			fmt.Fprintf(&b, " %s=%.2fms", c, s.Calls[c].Median)
		}
		fmt.Fprintf(&b, " (medians) | events %d of %d", s.Events.Received, s.Events.Expected)
		if !s.Events.Supported {
			b.WriteString(" (GetContainerEvents unimplemented)")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s (%s %s): n=%d median=%.2fms p90=%.2fms min=%.2fms max=%.2fms | run=%.2fms stop=%.2fms remove=%.2fms",
		r.Label, r.Runtime, r.RuntimeVersion, r.Iterations, r.MedianMS, r.P90MS, r.MinMS, r.MaxMS,
		r.RunMedianMS, r.StopMedianMS, r.RemoveMedianMS)
	if c, ok := r.Calls[callCreateContainer]; ok {
		fmt.Fprintf(&b, " create=%.2fms start=%.2fms stop-container=%.2fms remove-container=%.2fms",
			c.Median, r.Calls[callStartContainer].Median, r.Calls[callStopContainer].Median, r.Calls[callRemoveContainer].Median)
	}
	b.WriteString(" (medians)")
	if r.Image != "" {
		fmt.Fprintf(&b, " | pull=%.2fms", r.PullMS)
	}
	for _, point := range []string{memoryIdle, memoryLoaded} {
		if m, ok := r.Memory[point]; ok {
			fmt.Fprintf(&b, " | %s: %d pods, rss=%dKiB (daemon %dKiB, %d processes)", point, m.Pods, m.All.RSSKiB, m.Daemon.RSSKiB, m.All.Procs)
		}
	}
	return b.String()
}

// summarize turns samples (at least one) into a result.
func summarize(label, runtime, version string, samples []sample, withContainer bool) result {
	pick := func(f func(sample) time.Duration) []time.Duration {
		d := make([]time.Duration, len(samples))
		for i, s := range samples {
			d[i] = f(s)
		}
		slices.Sort(d)
		return d
	}
	total := pick(sample.total)
	calls := map[string][]time.Duration{}
	for _, s := range samples {
		for name, d := range s.callTimes(withContainer) {
			calls[name] = append(calls[name], d)
		}
	}
	stats := make(map[string]stat, len(calls))
	for name, d := range calls {
		stats[name] = newStat(d)
	}
	return result{
		Label:          label,
		Runtime:        runtime,
		RuntimeVersion: version,
		Iterations:     len(samples),
		MedianMS:       ms(median(total)),
		P90MS:          ms(percentile(total, 90)),
		MinMS:          ms(total[0]),
		MaxMS:          ms(total[len(total)-1]),
		RunMedianMS:    ms(median(pick(func(s sample) time.Duration { return s.run }))),
		StopMedianMS:   ms(median(pick(func(s sample) time.Duration { return s.stop }))),
		RemoveMedianMS: ms(median(pick(func(s sample) time.Duration { return s.remove }))),
		Calls:          stats,
	}
}

// median of sorted, non-empty d: the middle value, or the mean of the two
// middle values.
func median[T time.Duration | float64 | int64](d []T) T {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// percentile of sorted, non-empty d by the nearest-rank method: the smallest
// value with at least p percent of the values at or below it.
func percentile[T time.Duration | float64 | int64](d []T, p int) T {
	rank := (p*len(d) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return d[rank-1]
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
