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
