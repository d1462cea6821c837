package apparmor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSys makes a sysfs tree with AppArmor's files: the module's enabled
// flag and, when profiles is not nil, securityfs's list of profiles.
func fakeSys(t *testing.T, enabled string, profiles *string) string {
	t.Helper()
	sys := t.TempDir()
	write := func(path, data string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(sys, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sys, path), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("module/apparmor/parameters/enabled", enabled)
	if profiles != nil {
		write("kernel/security/apparmor/profiles", *profiles)
	}
	return sys
}

func TestEnabledAndLoaded(t *testing.T) {
	list := "crisp-default (enforce)\n/usr/sbin/ntpd (complain)\nsnap.name (with) parens (enforce)\n"
	h := &Host{Sys: fakeSys(t, "Y\n", &list)}
	if !h.Enabled() {
		t.Error("Enabled() = false with the module on and securityfs mounted")
	}
	for name, want := range map[string]bool{
		"crisp-default": true, "/usr/sbin/ntpd": true, "snap.name (with) parens": true,
		"crisp": false, "enforce": false, "": false,
	} {
		if got, err := h.Loaded(name); err != nil || got != want {
			t.Errorf("Loaded(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if (&Host{Sys: fakeSys(t, "N\n", &list)}).Enabled() {
		t.Error("Enabled() = true with the module off")
	}
	off := &Host{Sys: fakeSys(t, "Y\n", nil)}
	if off.Enabled() {
		t.Error("Enabled() = true without securityfs")
	}
	if _, err := off.Loaded("crisp-default"); err == nil {
		t.Error("Loaded without securityfs: no error")
	}
}

func TestLoadedRefusesAnOverlongList(t *testing.T) {
	huge := strings.Repeat("p (enforce)\n", maxProfilesList/12+1)
	if _, err := (&Host{Sys: fakeSys(t, "Y", &huge)}).Loaded("p"); err == nil {
		t.Error("a profile list longer than the bound was read")
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"crisp-default": true, "/usr/bin/x": true, "k8s nginx": true,
		"": false, "a\nchangeprofile b": false, "a\x00": false, strings.Repeat("a", 1025): false,
	} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

// TestLoadDefault loads through a stand-in parser that records its
// arguments and the profile it read, and checks that a loaded profile is
// not loaded again.
func TestLoadDefault(t *testing.T) {
	empty := ""
	sys := fakeSys(t, "Y", &empty)
	dir := t.TempDir()
	parser := filepath.Join(dir, "apparmor_parser")
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/args\ncat > " + dir + "/profile\n" +
		"echo 'crisp-default (enforce)' >> " + sys + "/kernel/security/apparmor/profiles\n"
	if err := os.WriteFile(parser, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &Host{Sys: sys, Parser: parser}
	for range 2 {
		if err := h.LoadDefault(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if args, _ := os.ReadFile(filepath.Join(dir, "args")); string(args) != "-Kr\n" {
		t.Errorf("parser arguments %q, want -Kr", args)
	}
	profile, _ := os.ReadFile(filepath.Join(dir, "profile"))
	if !strings.HasPrefix(string(profile), "profile crisp-default ") || !strings.Contains(string(profile), "deny mount,") {
		t.Errorf("profile loaded:\n%s", profile)
	}
	if data, _ := os.ReadFile(filepath.Join(sys, "kernel/security/apparmor/profiles")); strings.Count(string(data), "crisp-default") != 1 {
		t.Errorf("the default profile was loaded again although loaded: %q", data)
	}

	// A parser that fails is an error carrying what it said.
	bad := filepath.Join(dir, "bad_parser")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho 'syntax error at line 3' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty2 := ""
	err := (&Host{Sys: fakeSys(t, "Y", &empty2), Parser: bad}).LoadDefault(context.Background())
	if err == nil || !strings.Contains(err.Error(), "syntax error at line 3") {
		t.Errorf("failing parser: %v, want its message", err)
	}
}

// FuzzParseProfiles: every line the kernel could write for a profile is
// read back as that profile and mode, and no input makes a name hold a
// line break.
func FuzzParseProfiles(f *testing.F) {
	f.Add("crisp-default (enforce)\n/usr/sbin/ntpd (complain)\n")
	f.Add("a (b) (c)\n\n(x)\n (y)\nz (\n")
	f.Fuzz(func(t *testing.T, text string) {
		for name, mode := range parseProfiles([]byte(text)) {
			if strings.ContainsRune(name, '\n') || strings.ContainsRune(mode, '\n') || name == "" {
				t.Fatalf("profile %q mode %q from %q", name, mode, text)
			}
			line := name + " (" + mode + ")"
			if got := parseProfiles([]byte(line)); len(got) != 1 || got[name] != mode {
				t.Fatalf("%q reads back as %v", line, got)
			}
		}
	})
}
