package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makefileTags returns the build tags `make build` compiles crisp with.
func makefileTags(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), ":="); ok && strings.TrimSpace(name) == "TAGS" {
			return strings.TrimSpace(value)
		}
	}
	t.Fatal("no TAGS := line in the Makefile")
	return ""
}

// The daemon's binary is mapped into memory whole, so code it never runs
// still costs resident pages (docs/benchmarks.md). Built as `make build`
// builds it, crisp links neither gRPC's request tracing (served by no
// endpoint of crisp's) nor NRI's WASM compiler and interpreter (WASM
// plugins are refused). The symbols are checked, not the imports: NRI's
// API package imports wazero either way, and only the linker drops the
// interpreter and the compiler's front end.
func TestDaemonLinksNoUnusedRuntimes(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	bin := filepath.Join(t.TempDir(), "crisp")
	if out, err := exec.Command("go", "build", "-tags", makefileTags(t), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	banned := []string{
		"golang.org/x/net/trace.",
		"html/template.",
		"github.com/tetratelabs/wazero/internal/engine/interpreter.",
		"github.com/tetratelabs/wazero/internal/engine/wazevo/frontend.",
	}
	found := map[string]string{}
	for _, s := range syms {
		for _, b := range banned {
			if strings.HasPrefix(s.Name, b) {
				found[b] = s.Name
			}
		}
	}
	for b, sym := range found {
		t.Errorf("crisp links %s (%s)", strings.TrimSuffix(b, "."), sym)
	}
}

// Pulls and loads run in crisp-image: the daemon links neither
// pkg/image/transfer nor go.podman.io/image's registry client, copy,
// signature policy or archive transports, so their code and initialisers
// are not in the binary a node keeps resident.
func TestDaemonLinksNoImageTransfer(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-tags", makefileTags(t), ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, out)
	}
	banned := []string{
		"github.com/crisp-runtime/crisp/pkg/image/transfer",
		"go.podman.io/image/v5/copy",
		"go.podman.io/image/v5/docker",
		"go.podman.io/image/v5/signature",
		"go.podman.io/image/v5/docker/archive",
		"go.podman.io/image/v5/oci/archive",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if dep == b {
				t.Errorf("crisp links %s", dep)
			}
		}
	}
}
