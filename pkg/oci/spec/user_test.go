package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestResolveUser(t *testing.T) {
	uid := func(v int64) *runtimeapi.Int64Value { return &runtimeapi.Int64Value{Value: v} }
	for _, tc := range []struct {
		name      string
		sc        *runtimeapi.LinuxContainerSecurityContext
		imageUser string
		uid, gid  uint32
		groups    []uint32
		home      string
		field     string
	}{
		{"root by default", nil, "", 0, 0, []uint32{0}, "/root", ""},
		{"run_as_user with entry", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000)}, "", 1000, 1000, []uint32{1000, 10, 44}, "/home/alice", ""},
		{"run_as_user without entry", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(4242)}, "", 4242, 0, []uint32{0}, "/", ""},
		{"run_as_user wins over the image", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1001)}, "alice", 1001, 1001, []uint32{1001, 44}, "/home/bob", ""},
		{"run_as_username", &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "bob"}, "", 1001, 1001, []uint32{1001, 44}, "/home/bob", ""},
		{"unknown run_as_username", &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "mallory"}, "", 0, 0, nil, "", "linux.security_context.run_as_username"},
		{"negative run_as_user", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(-1)}, "", 0, 0, nil, "", "linux.security_context.run_as_user"},
		{"run_as_group", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000), RunAsGroup: uid(2000)}, "", 1000, 2000, []uint32{2000, 10, 44}, "/home/alice", ""},
		{"run_as_group with run_as_username", &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "bob", RunAsGroup: uid(2000)}, "", 1001, 2000, []uint32{2000, 44}, "/home/bob", ""},
		{"run_as_group without a user", &runtimeapi.LinuxContainerSecurityContext{RunAsGroup: uid(2000)}, "bob", 0, 0, nil, "", "linux.security_context.run_as_group"},
		{"negative run_as_group", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1), RunAsGroup: uid(-5)}, "", 0, 0, nil, "", "linux.security_context.run_as_group"},
		{"image name", nil, "alice", 1000, 1000, []uint32{1000, 10, 44}, "/home/alice", ""},
		{"image uid", nil, "1001", 1001, 1001, []uint32{1001, 44}, "/home/bob", ""},
		{"image uid:gid", nil, "1000:44", 1000, 44, []uint32{44, 10}, "/home/alice", ""},
		{"image name:group", nil, "alice:video", 1000, 44, []uint32{44, 10}, "/home/alice", ""},
		{"image numeric uid:gid without entries", nil, "5000:6000", 5000, 6000, []uint32{6000}, "/", ""},
		{"unknown image user", nil, "mallory", 0, 0, nil, "", "image"},
		{"unknown image group", nil, "alice:staff", 0, 0, nil, "", "image"},
		{"supplemental groups merged", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000), SupplementalGroups: []int64{3000, 10}}, "", 1000, 1000, []uint32{1000, 10, 44, 3000}, "/home/alice", ""},
		{"strict supplemental groups", &runtimeapi.LinuxContainerSecurityContext{
			RunAsUser: uid(1000), SupplementalGroups: []int64{3000}, SupplementalGroupsPolicy: runtimeapi.SupplementalGroupsPolicy_Strict,
		}, "", 1000, 1000, []uint32{1000, 3000}, "/home/alice", ""},
		{"negative supplemental group", &runtimeapi.LinuxContainerSecurityContext{SupplementalGroups: []int64{1, -1}}, "", 0, 0, nil, "", "linux.security_context.supplemental_groups[1]"},
		{"unknown policy", &runtimeapi.LinuxContainerSecurityContext{SupplementalGroupsPolicy: 7}, "", 0, 0, nil, "", "linux.security_context.supplemental_groups_policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, home, err := resolveUser(testRootfs(t), tc.sc, tc.imageUser)
			checkFieldError(t, err, tc.field)
			if err != nil {
				return
			}
			if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.groups) || home != tc.home {
				t.Errorf("user %d:%d groups %v home %q; want %d:%d groups %v home %q", u.UID, u.GID, u.AdditionalGids, home, tc.uid, tc.gid, tc.groups, tc.home)
			}
			if u.Umask == nil || *u.Umask != 0o022 {
				t.Errorf("umask %v, want 0022", u.Umask)
			}
		})
	}
}

// TestResolveUserStaysInRoot points the image's /etc/passwd outside the
// rootfs, with a relative and an absolute symlink: the names must resolve
// in the file the link names inside the root, never the host's.
func TestResolveUserStaysInRoot(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "passwd")
	if err := os.WriteFile(outside, []byte("evil:x:4242:4242::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, target string
		inside       string // content of the target inside the root, "" for none
		wantUID      uint32
	}{
		{"relative escape", "../../passwd", "", 0},
		{"absolute escape", outside, "evil:x:7:7::/:/bin/sh\n", 7},
		{"dot-dot escape", "/../../../../../../" + outside, "evil:x:8:8::/:/bin/sh\n", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "rootfs")
			if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tc.target, filepath.Join(root, "etc/passwd")); err != nil {
				t.Fatal(err)
			}
			if tc.inside != "" {
				in := filepath.Join(root, outside)
				if err := os.MkdirAll(filepath.Dir(in), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(in, []byte(tc.inside), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			u, _, err := resolveUser(root, nil, "evil")
			if tc.inside == "" {
				checkFieldError(t, err, "image")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.UID != tc.wantUID {
				t.Errorf("evil resolved to uid %d, want %d from inside the root (4242 is the host file)", u.UID, tc.wantUID)
			}
		})
	}
}

// TestResolveUserRefusesFifo makes /etc/group a fifo: reading it would
// block forever.
func TestResolveUserRefusesFifo(t *testing.T) {
	root := testRootfs(t)
	group := filepath.Join(root, "etc/group")
	if err := os.Remove(group); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(group, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := resolveUser(root, nil, "alice")
		done <- err
	}()
	select {
	case err := <-done:
		checkFieldError(t, err, "image")
	case <-time.After(30 * time.Second):
		t.Fatal("resolveUser blocked on a fifo /etc/group")
	}
}

func TestResolveUserWithoutEtc(t *testing.T) {
	root := t.TempDir()
	u, home, err := resolveUser(root, nil, "1234:5")
	if err != nil {
		t.Fatal(err)
	}
	if u.UID != 1234 || u.GID != 5 || home != "/" {
		t.Errorf("user %d:%d home %q, want 1234:5 home /", u.UID, u.GID, home)
	}
	if _, _, err := resolveUser(root, nil, "alice"); err == nil {
		t.Error("a name resolved without /etc/passwd")
	}
}
