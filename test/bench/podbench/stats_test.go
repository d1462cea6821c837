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
