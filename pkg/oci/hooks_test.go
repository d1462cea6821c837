package oci

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestHooksRunInOrderWithState(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "log")
	// Host hooks run the host's sh; startContainer runs in the container
	// after pivot_root, where the log directory is bound at /hooklog.
	hostHook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + dir + "/" + name + ".json; echo " + name + " >> " + logPath}}
	}
	spec := testSpec(t, "true")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: dir, Options: []string{"bind"}})
	spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{hostHook("prestart")},
		CreateRuntime:   []specs.Hook{hostHook("createRuntime")},
		CreateContainer: []specs.Hook{hostHook("createContainer")},
		StartContainer:  []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > /hooklog/startContainer.json; echo startContainer >> /hooklog/log"}}},
		Poststart:       []specs.Hook{hostHook("poststart")},
		Poststop:        []specs.Hook{hostHook("poststop")},
	}
	createContainer(t, rt, "hooks", spec, nil)
	if err := rt.Start(ctx, "hooks"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "hooks"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Delete(ctx, "hooks", false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(data)), []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("hooks ran as %v, want %v", got, want)
	}
	for name, status := range map[string]specs.ContainerState{
		"createRuntime": specs.StateCreating, "createContainer": specs.StateCreating, "startContainer": specs.StateRunning,
		"poststart": specs.StateRunning, "poststop": specs.StateStopped,
	} {
		var st specs.State
		data, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err == nil {
			err = json.Unmarshal(data, &st)
		}
		if err != nil || st.ID != "hooks" || st.Status != status || st.Bundle == "" {
			t.Errorf("%s hook got state %+v (%v), want id hooks, status %s", name, st, err, status)
		}
		if status != specs.StateStopped && st.Pid <= 0 {
			t.Errorf("%s hook got no pid", name)
		}
	}
}

// A failing poststart or poststop hook is logged and the ones after it run
// all the same; start and delete succeed.
func TestFailingPoststartAndPoststopHooksDoNotStopTheOthers(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "log")
	fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 1"}}
	log := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " >> " + logPath}}
	}
	spec := testSpec(t, "true")
	spec.Hooks = &specs.Hooks{
		Poststart: []specs.Hook{fail, log("poststart")},
		Poststop:  []specs.Hook{fail, log("poststop")},
	}
	createContainer(t, rt, "hooks-warn", spec, nil)
	if err := rt.Start(ctx, "hooks-warn"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "hooks-warn"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Delete(ctx, "hooks-warn", false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(string(data)), " "); got != "poststart poststop" {
		t.Errorf("hooks after the failing ones ran as %q, want poststart poststop", got)
	}
}

// TestContainerHookFailures runs createContainer hooks, which the
// container's init runs, that fail and that time out: create fails naming
// the hook with its status and output, and leaves no container behind.
func TestContainerHookFailures(t *testing.T) {
	rt := newTestRuntime(t)
	one := 1
	for _, tc := range []struct {
		name string
		hook specs.Hook
		want []string
	}{
		{"exit status", specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat >/dev/null; echo bad hook; exit 3"}},
			[]string{"createContainer hook 0 (/bin/sh)", "exit status 3", "bad hook"}},
		{"timeout", specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 10"}, Timeout: &one},
			[]string{"createContainer hook 0 (/bin/sh)", "timed out after 1s"}},
		{"missing binary", specs.Hook{Path: "/nonexistent/hook"},
			[]string{"createContainer hook 0 (/nonexistent/hook)", "exit status 127", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, "true")
			spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{tc.hook}}
			id := "hookfail-" + strings.ReplaceAll(tc.name, " ", "-")
			err := rt.Create(context.Background(), id, writeBundle(t, spec), CreateOptions{})
			if err == nil {
				_ = rt.Delete(context.Background(), id, true)
				t.Fatal("create succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(w)) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, serr := rt.State(context.Background(), id); serr == nil {
				t.Errorf("container %s exists after the failed create", id)
			}
		})
	}
}
