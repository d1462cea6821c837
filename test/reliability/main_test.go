package reliability

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// crispBin is the binary under test: $CRISP_BIN.
var crispBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "reliability tests need root: skipping")
		os.Exit(0)
	}
	crispBin = os.Getenv("CRISP_BIN")
	if crispBin == "" {
		fmt.Fprintln(os.Stderr, "reliability tests need CRISP_BIN, the crisp binary to drive (make build; CRISP_BIN=$PWD/bin/crisp): skipping")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mode is the size of a run: the bounded form that go test runs by
// default, or the full form that make soak runs (CRISP_RELIABILITY=full).
type mode struct {
	name string
	// kills is how many times the crash test SIGKILLs the daemon.
	kills int
	// cycles is how many pod and container cycles the soak runs.
	cycles int
	// seed drives the crash test's choices; CRISP_RELIABILITY_SEED
	// replays a run.
	seed int64
}

func runMode(t *testing.T) mode {
	m := mode{name: "bounded", kills: 5, cycles: 30, seed: time.Now().UnixNano()}
	switch v := os.Getenv("CRISP_RELIABILITY"); v {
	case "", "bounded":
	case "full":
		m = mode{name: "full", kills: 20, cycles: 200, seed: m.seed}
	default:
		t.Fatalf("CRISP_RELIABILITY=%q: want bounded or full", v)
	}
	if v := os.Getenv("CRISP_RELIABILITY_SEED"); v != "" {
		seed, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("CRISP_RELIABILITY_SEED=%q: %v", v, err)
		}
		m.seed = seed
	}
	return m
}
