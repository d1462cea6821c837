package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// fakeNRI records the events it is told, adds a variable to every
// container it is asked to create, fails the creation of one named "fail"
// and holds that of one named "hold" until released.
type fakeNRI struct {
	mu      sync.Mutex
	events  []string
	held    chan string
	release chan struct{}
}

func (f *fakeNRI) record(event string, c *Container) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event+" "+c.ID)
}

func (f *fakeNRI) eventsOf(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		var name, eid string
		fmt.Sscan(e, &name, &eid)
		if eid == id {
			out = append(out, name)
		}
	}
	return out
}

func (f *fakeNRI) BlockSync() func() { return func() {} }

func (f *fakeNRI) CreateContainer(_ context.Context, _ *sandbox.Sandbox, c *Container, s *specs.Spec) error {
	f.record("CreateContainer", c)
	switch c.Metadata.Name {
	case "fail":
		return fmt.Errorf("plugin refuses %s", c.ID)
	case "hold":
		f.held <- c.ID
		<-f.release
	}
	s.Process.Env = append(s.Process.Env, "FROM_NRI=adjusted")
	return nil
}

func (f *fakeNRI) PostCreateContainer(_ context.Context, _ *sandbox.Sandbox, c *Container) error {
	f.record("PostCreateContainer", c)
	return nil
}

func (f *fakeNRI) StartContainer(_ context.Context, _ *sandbox.Sandbox, c *Container) error {
	f.record("StartContainer", c)
	return nil
}

func (f *fakeNRI) PostStartContainer(_ context.Context, _ *sandbox.Sandbox, c *Container) error {
	f.record("PostStartContainer", c)
	return nil
}

func (f *fakeNRI) UpdateContainer(_ context.Context, _ *sandbox.Sandbox, c *Container, res *specs.LinuxResources) (*specs.LinuxResources, error) {
	f.record("UpdateContainer", c)
	return res, nil
}

func (f *fakeNRI) PostUpdateContainer(_ context.Context, _ *sandbox.Sandbox, c *Container) error {
	f.record("PostUpdateContainer", c)
	return nil
}

func (f *fakeNRI) StopContainer(_ context.Context, _ *sandbox.Sandbox, c *Container) error {
	f.record("StopContainer", c)
	return nil
}

func (f *fakeNRI) RemoveContainer(_ context.Context, _ *sandbox.Sandbox, c *Container) error {
	f.record("RemoveContainer", c)
	return nil
}

// A container whose NRI CreateContainer fails leaves nothing, and the
// plugins are told it is gone; one they adjust runs with the adjustment
// and is told to them at each step, in order, its own exit included.
func TestNRICreateFailsAndAdjusts(t *testing.T) {
	f := &fakeNRI{}
	e := newEnv(t)
	e.nri = f
	e.open(t)
	ctx := context.Background()
	sb := e.pod(t, "nri", sandbox.ModeContainer)

	if _, err := e.m.Create(ctx, sb.ID, config("fail", "true")); err == nil {
		t.Fatal("Create succeeded though NRI CreateContainer failed")
	}
	if list := e.m.List(); len(list) != 0 {
		t.Errorf("a container whose NRI hook failed is listed: %v", list)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.state, "containers")); len(entries) != 0 {
		t.Errorf("a container whose NRI hook failed left its bundle: %v", entries)
	}
	if entries, _ := os.ReadDir(e.rt.Root()); len(entries) != 0 {
		t.Errorf("a container whose NRI hook failed left OCI state: %v", entries)
	}

	c := e.run(t, sb, config("adjusted", "echo $FROM_NRI"))
	e.waitExited(t, c.ID)
	waitLog(t, c.LogPath, "adjusted")
	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := f.eventsOf(c.ID), []string{"CreateContainer", "PostCreateContainer", "StartContainer", "PostStartContainer", "StopContainer", "RemoveContainer"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// While plugins look at a container in CreateContainer it is not listed
// and not found.
func TestNRIContainerHiddenDuringCreate(t *testing.T) {
	f := &fakeNRI{held: make(chan string), release: make(chan struct{})}
	e := newEnv(t)
	e.nri = f
	e.open(t)
	sb := e.pod(t, "nri-hidden", sandbox.ModeContainer)
	done := make(chan error, 1)
	go func() {
		_, err := e.m.Create(context.Background(), sb.ID, config("hold", "true"))
		done <- err
	}()
	id := <-f.held
	if list := e.m.List(); len(list) != 0 {
		t.Errorf("a container is listed while NRI CreateContainer is in progress: %v", list)
	}
	if _, err := e.m.Get(id); err == nil {
		t.Error("Get finds a container while NRI CreateContainer is in progress")
	}
	close(f.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c, err := e.m.Get(id); err != nil || c.State != StateCreated {
		t.Fatalf("after CreateContainer: %+v, %v", c, err)
	}
}
