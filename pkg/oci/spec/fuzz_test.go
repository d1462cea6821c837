package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// FuzzBuild translates CRI container configs with hostile string fields
// into OCI specs. Build must not panic, must refuse with an error rather
// than produce a spec the executor would misread, and what it produces
// must hold its invariants: absolute clean working directory and mount
// destinations, environment entries of a key without NUL and '=' joined to
// a value without NUL, and a spec that encodes to JSON.
func FuzzBuild(f *testing.F) {
	root := f.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		f.Fatal(err)
	}
	for name, data := range map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	profile := filepath.Join(f.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(ociProfile), 0o644); err != nil {
		f.Fatal(err)
	}
	hostDir := f.TempDir()

	f.Add("sh", "-c", "A", "b", "/srv", "/data", hostDir, "alice", profile, "", "1000:1000", "/work")
	f.Add("", "", "PATH", "/bin", "", "/", hostDir, "", "/dev/zero", "runtime/default", "", "")
	f.Add("a\x00b", "x\ny", "A=B", "v\x00", "relative", "/data/../..", "/nonexistent", "root\n", "relative.json", "localhost/x", "bob", "../..")
	f.Add("ls", "", "", "", "/srv/./x/", "/data//x", hostDir+"/../"+filepath.Base(hostDir), "nobody", profile+"\x00", "unconfined", "0", "w")
	f.Add(strings.Repeat("a", 4096), "--", "K\x00", "", "/\x00", "/proc/x", "/proc/self/root", "x:y", "/", "localhost/"+profile, "alice:video", "/")

	f.Fuzz(func(t *testing.T, command, arg, envKey, envValue, workingDir, mountDst, mountSrc, username, seccompRef, apparmor, imageUser, imageWorkingDir string) {
		cfg := &runtimeapi.ContainerConfig{
			Metadata:   &runtimeapi.ContainerMetadata{Name: "app"},
			Image:      &runtimeapi.ImageSpec{Image: "busybox"},
			WorkingDir: workingDir,
			Envs:       []*runtimeapi.KeyValue{{Key: envKey, Value: []byte(envValue)}},
			Mounts:     []*runtimeapi.Mount{{ContainerPath: mountDst, HostPath: mountSrc}},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				RunAsUsername:   username,
				Seccomp:         &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: seccompRef},
				ApparmorProfile: apparmor,
			}},
		}
		if command != "" {
			cfg.Command = []string{command}
		}
		if arg != "" {
			cfg.Args = []string{arg}
		}
		c := &Container{
			ID:     "c1",
			Config: cfg,
			Pod: Pod{ID: "p1", Name: "pod", Namespace: "default", UID: "uid-1",
				NetNS: "/run/crisp/ns/net/p1", IPCNS: "/run/crisp/ns/ipc/p1", UTSNS: "/run/crisp/ns/uts/p1"},
			Image:       &imgspecv1.ImageConfig{Cmd: []string{"sh"}, User: imageUser, WorkingDir: imageWorkingDir},
			ImageName:   "busybox",
			ImageRef:    "sha256:0123",
			Rootfs:      root,
			CgroupsPath: "/kubepods/p1/c1",
		}
		s, err := Build(c)
		if err != nil {
			var fe *errdefs.FieldError
			if errors.As(err, &fe) && fe.Field == "" {
				t.Fatalf("field error without a field: %v", err)
			}
			return
		}
		if cwd := s.Process.Cwd; !filepath.IsAbs(cwd) || filepath.Clean(cwd) != cwd {
			t.Errorf("cwd %q is not a clean absolute path", cwd)
		}
		if len(s.Process.Args) == 0 {
			t.Error("no process arguments")
		}
		for _, kv := range s.Process.Env {
			key, value, ok := strings.Cut(kv, "=")
			if !ok || key == "" || strings.ContainsRune(key, 0) || strings.ContainsRune(value, 0) {
				t.Errorf("environment entry %q", kv)
			}
		}
		for _, m := range s.Mounts {
			if !filepath.IsAbs(m.Destination) || filepath.Clean(m.Destination) != m.Destination || m.Destination == "/" {
				t.Errorf("mount destination %q", m.Destination)
			}
		}
		if _, err := json.Marshal(s); err != nil {
			t.Errorf("spec does not encode: %v", err)
		}
	})
}
