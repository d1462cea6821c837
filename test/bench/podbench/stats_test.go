package main

import (
	"slices"
	"testing"
	"time"
)

func TestMedianAndPercentile(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name        string
		in          []time.Duration
		median, p90 time.Duration
	}{
		{"one", []time.Duration{7 * ms}, 7 * ms, 7 * ms},
		{"odd", []time.Duration{3 * ms, 1 * ms, 2 * ms}, 2 * ms, 3 * ms},
		{"even", []time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 2500 * time.Microsecond, 4 * ms},
		{"ten", []time.Duration{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 5, 9},
		{"eleven", []time.Duration{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 6, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := slices.Clone(tt.in)
			slices.Sort(d)
			if got := median(d); got != tt.median {
				t.Errorf("median = %v, want %v", got, tt.median)
			}
			if got := percentile(d, 90); got != tt.p90 {
				t.Errorf("p90 = %v, want %v", got, tt.p90)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	samples := []sample{
		{run: 3 * ms, stop: 1 * ms, remove: 1 * ms}, // 5
		{run: 1 * ms, stop: 1 * ms, remove: 1 * ms}, // 3
		{run: 8 * ms, stop: 1 * ms, remove: 1 * ms}, // 10
	}
	r := summarize("x", "rt", "1", samples, false)
	if r.Iterations != 3 || r.MedianMS != 5 || r.MinMS != 3 || r.MaxMS != 10 || r.P90MS != 10 || r.RunMedianMS != 3 || r.StopMedianMS != 1 {
		t.Errorf("summarize = %+v", r)
	}
}

func TestSummarizeContainerCalls(t *testing.T) {
	ms := time.Millisecond
	// The sums are taken per pod, then summarised: the median of
	// create+start is 6 (1+5, 4+2, 9+9 → 6, 6, 18), not the sum of the
	// medians of create (4) and start (5).
	samples := []sample{
		{run: 10 * ms, create: 1 * ms, start: 5 * ms, stopContainer: 1 * ms, removeContainer: 2 * ms, stop: 3 * ms, remove: 1 * ms},
		{run: 20 * ms, create: 4 * ms, start: 2 * ms, stopContainer: 1 * ms, removeContainer: 2 * ms, stop: 3 * ms, remove: 1 * ms},
		{run: 30 * ms, create: 9 * ms, start: 9 * ms, stopContainer: 1 * ms, removeContainer: 2 * ms, stop: 3 * ms, remove: 1 * ms},
	}
	r := summarize("x", "rt", "1", samples, true)
	want := map[string]stat{
		callRunPod:          {N: 3, Median: 20, P90: 30, Min: 10, Max: 30},
		callCreateContainer: {N: 3, Median: 4, P90: 9, Min: 1, Max: 9},
		callStartContainer:  {N: 3, Median: 5, P90: 9, Min: 2, Max: 9},
		callStopContainer:   {N: 3, Median: 1, P90: 1, Min: 1, Max: 1},
		callRemoveContainer: {N: 3, Median: 2, P90: 2, Min: 2, Max: 2},
		callStopPod:         {N: 3, Median: 3, P90: 3, Min: 3, Max: 3},
		callRemovePod:       {N: 3, Median: 1, P90: 1, Min: 1, Max: 1},
		sumCreateStart:      {N: 3, Median: 6, P90: 18, Min: 6, Max: 18},
		sumFromScratch:      {N: 3, Median: 26, P90: 48, Min: 16, Max: 48},
	}
	if len(r.Calls) != len(want) {
		t.Errorf("calls %v, want %d", r.Calls, len(want))
	}
	for name, w := range want {
		if got := r.Calls[name]; got != w {
			t.Errorf("%s = %+v, want %+v", name, got, w)
		}
	}
	// The iteration total is every call: 23, 33, 55.
	if r.MedianMS != 33 || r.MaxMS != 55 {
		t.Errorf("total median %v max %v, want 33 and 55", r.MedianMS, r.MaxMS)
	}
	if pods := summarize("x", "rt", "1", samples, false); len(pods.Calls) != 3 {
		t.Errorf("pod-only calls %v, want the three pod calls", pods.Calls)
	}
}
