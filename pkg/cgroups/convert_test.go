package cgroups

import "testing"

func TestCPUSharesToWeight(t *testing.T) {
	tests := []struct{ shares, weight uint64 }{
		{0, 0},
		{1, 1},
		{2, 1},
		{1024, 100},
		{102, 17},   // 0.1 CPU from kubelet: 10^((6.672²+125·6.672)/612 - 7/34) = 16.97
		{512, 59},   // 10^((81+1125)/612 - 7/34) = 58.2
		{2048, 174}, // 10^((121+1375)/612 - 7/34) = 173.2
		{262143, 10000},
		{262144, 10000},
		{500000, 10000},
	}
	for _, tt := range tests {
		if got := CPUSharesToWeight(tt.shares); got != tt.weight {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
	// The conversion must be monotonic so that relative weights survive.
	prev := uint64(0)
	for s := uint64(2); s <= 262144; s += 97 {
		w := CPUSharesToWeight(s)
		if w < prev || w < 1 || w > 10000 {
			t.Fatalf("CPUSharesToWeight(%d) = %d after %d: not monotonic within 1..10000", s, w, prev)
		}
		prev = w
	}
}

func TestBlkioWeightToIOWeight(t *testing.T) {
	for in, want := range map[uint64]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := BlkioWeightToIOWeight(in); got != want {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestMemorySwapToV2(t *testing.T) {
	tests := []struct {
		swap, mem, want int64
		wantErr         bool
	}{
		{swap: 0, mem: 0, want: 0},
		{swap: 0, mem: -1, want: -1},
		{swap: -1, mem: 100, want: -1},
		{swap: 0, mem: 100, want: 0},
		{swap: 100, mem: 100, want: 0},
		{swap: 300, mem: 100, want: 200},
		{swap: 50, mem: 100, wantErr: true},
		{swap: 100, mem: 0, wantErr: true},
		{swap: 100, mem: -1, wantErr: true},
		{swap: 100, mem: -5, wantErr: true},
	}
	for _, tt := range tests {
		got, err := MemorySwapToV2(tt.swap, tt.mem)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("MemorySwapToV2(%d, %d) = %d, %v; want %d, error %v", tt.swap, tt.mem, got, err, tt.want, tt.wantErr)
		}
	}
}

// The weight crisp wrote for a share count reads back as (about) that
// count: exactly for kubelet's usual values, and within the rounding the
// ceiling of the forward conversion leaves elsewhere.
func TestCPUWeightToSharesInvertsTheConversion(t *testing.T) {
	for _, tt := range []struct{ weight, shares uint64 }{{0, 0}, {1, 2}, {100, 1024}, {10000, 262144}} {
		if got := CPUWeightToShares(tt.weight); got != tt.shares {
			t.Errorf("CPUWeightToShares(%d) = %d, want %d", tt.weight, got, tt.shares)
		}
	}
	for _, shares := range []uint64{102, 256, 512, 2048, 4096, 50000} {
		got := CPUWeightToShares(CPUSharesToWeight(shares))
		if diff := float64(got)/float64(shares) - 1; diff < -0.05 || diff > 0.05 {
			t.Errorf("shares %d -> weight %d -> shares %d: off by %.1f%%", shares, CPUSharesToWeight(shares), got, diff*100)
		}
	}
}
