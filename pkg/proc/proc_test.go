package proc

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestRefFollowsTheProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ref, err := NewRef(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !ref.Alive() {
		t.Fatal("a running process is not alive")
	}
	if other := (Ref{Pid: ref.Pid, Start: ref.Start + 1}); other.Alive() {
		t.Error("a reference with another start time (a recycled pid) is alive")
	}
	_ = cmd.Process.Kill()
	// Killed but not yet waited for: a zombie is not alive.
	for deadline := time.Now().Add(5 * time.Second); ref.Alive() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if ref.Alive() {
		t.Error("a killed process is still alive")
	}
	_ = cmd.Wait()
	if _, _, err := Stat(ref.Pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a reaped process: %v, want not exist", err)
	}
	if (Ref{}).Alive() {
		t.Error("the zero Ref is alive")
	}
}

func TestStatOfSelf(t *testing.T) {
	start, state, err := Stat(os.Getpid())
	if err != nil || start == 0 || state != 'R' && state != 'S' {
		t.Errorf("Stat(self) = %d, %q, %v", start, state, err)
	}
}
