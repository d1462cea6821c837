package cgroups

import (
	"errors"
	"fmt"
	"math"
)

// CPUSharesToWeight converts cgroup v1 cpu.shares (2..262144) to cgroup v2
// cpu.weight (1..10000) with the conversion runc and crun share: a quadratic
// fit in log space that maps the extremes onto each other and the default
// 1024 shares onto the default weight 100. 0 means "not set" and stays 0.
func CPUSharesToWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	exponent := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exponent)))
}

// CPUWeightToShares inverts CPUSharesToWeight, rounding to the nearest
// share: the cpu.shares a cgroup v2 cpu.weight stands for. 0 stays 0.
func CPUWeightToShares(weight uint64) uint64 {
	if weight == 0 {
		return 0
	}
	e := math.Log10(float64(weight))
	l := (-125 + math.Sqrt(125*125+4*612*(e+7.0/34.0))) / 2
	return min(max(uint64(math.Round(math.Pow(2, l))), 2), 262144)
}

// BlkioWeightToIOWeight converts a cgroup v1 blkio weight (10..1000) to a
// cgroup v2 io.weight (1..10000) linearly, as runc does. 0 means "not set".
func BlkioWeightToIOWeight(weight uint64) uint64 {
	if weight == 0 {
		return 0
	}
	return 1 + (weight-10)*9999/990
}

// MemorySwapToV2 converts an OCI memory+swap limit into the value of
// cgroup v2 memory.swap.max, which limits swap alone: -1 means "max", 0 means
// "leave unset". As in runc, an unlimited memory limit without a swap limit
// makes swap unlimited too.
func MemorySwapToV2(memorySwap, memory int64) (int64, error) {
	if memory == -1 && memorySwap == 0 {
		return -1, nil
	}
	if memorySwap == -1 || memorySwap == 0 {
		return memorySwap, nil
	}
	if memory == 0 || memory == -1 {
		return 0, errors.New("a swap limit needs a memory limit")
	}
	if memory < 0 {
		return 0, fmt.Errorf("memory limit %d is negative", memory)
	}
	if memorySwap < memory {
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d", memorySwap, memory)
	}
	return memorySwap - memory, nil
}
