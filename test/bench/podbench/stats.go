package main

import (
	"fmt"
	"slices"
	"time"
)

// result is what a run prints: iteration wall times in milliseconds, and the
// median of each RPC to show where the time goes.
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
}

func (r result) String() string {
	return fmt.Sprintf("%s (%s %s): n=%d median=%.2fms p90=%.2fms min=%.2fms max=%.2fms | run=%.2fms stop=%.2fms remove=%.2fms (medians)",
		r.Label, r.Runtime, r.RuntimeVersion, r.Iterations, r.MedianMS, r.P90MS, r.MinMS, r.MaxMS,
		r.RunMedianMS, r.StopMedianMS, r.RemoveMedianMS)
}

// summarize turns samples (at least one) into a result.
func summarize(label, runtime, version string, samples []sample) result {
	pick := func(f func(sample) time.Duration) []time.Duration {
		d := make([]time.Duration, len(samples))
		for i, s := range samples {
			d[i] = f(s)
		}
		slices.Sort(d)
		return d
	}
	total := pick(sample.total)
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
	}
}

// median of sorted, non-empty d: the middle value, or the mean of the two
// middle values.
func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// percentile of sorted, non-empty d by the nearest-rank method: the smallest
// value with at least p percent of the values at or below it.
func percentile(d []time.Duration, p int) time.Duration {
	rank := (p*len(d) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return d[rank-1]
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
