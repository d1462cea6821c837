package ocicli

import (
	"slices"
	"strings"
	"testing"
)

// Each entry of the table answers to exactly the names its command does.
func TestSubcommandNames(t *testing.T) {
	seen := map[string]bool{}
	for _, sub := range subcommands() {
		cmd := sub.build(&ociOptions{})
		want := append([]string{cmd.Name()}, cmd.Aliases...)
		if !slices.Equal(sub.names, want) {
			t.Errorf("table names %v for the command named %v", sub.names, want)
		}
		for _, name := range sub.names {
			if seen[name] {
				t.Errorf("%q names two subcommands", name)
			}
			seen[name] = true
		}
	}
}

func TestSubcommandName(t *testing.T) {
	flags := NewCommand("crisp-oci", nil).PersistentFlags()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--bundle", "b", "c1"}, "run"},
		{[]string{"--root", "/r", "--cgroup-mount", "/m", "run", "c1"}, "run"},
		{[]string{"--root=/r", "--systemd-cgroup", "--debug", "ls"}, "ls"},
		// A bool flag takes its value only after "=", as pflag parses it.
		{[]string{"--systemd-cgroup", "false", "run"}, "false"},
		{[]string{"--systemd-cgroup=false", "run"}, "run"},
		{[]string{"--log", "--root", "run"}, "run"},
		// What it cannot tell.
		{[]string{"-v", "4", "run"}, ""},
		{[]string{"--vmodule", "x=4", "run"}, ""},
		{[]string{"--no-such-flag", "run"}, ""},
		{[]string{"--", "run"}, ""},
		{[]string{"--root"}, ""},
		{nil, ""},
	} {
		if got := subcommandName(tc.args, flags); got != tc.want {
			t.Errorf("subcommandName(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// A command line naming a subcommand builds only that one, and no
// completion command; anything else builds the whole tree.
func TestNewCommandForBuildsWhatArgsName(t *testing.T) {
	all := len(subcommands())
	for _, tc := range []struct {
		args []string
		want []string // the subcommands built; nil for all
	}{
		{[]string{"--root", "/r", "run", "--bundle", "b", "c1"}, []string{"run"}},
		{[]string{"ls", "-q"}, []string{"list"}},
		{[]string{"--debug", "checkpoint", "c1"}, []string{"checkpoint"}},
		{[]string{"help", "run"}, nil},
		{[]string{"completion", "bash"}, nil},
		{[]string{"-v", "4", "run", "c1"}, nil},
		{[]string{"runn", "c1"}, nil},
		{nil, nil},
	} {
		cmd := NewCommandFor("crisp-oci", tc.args, Program{})
		var built []string
		for _, c := range cmd.Commands() {
			built = append(built, c.Name())
		}
		switch {
		case tc.want == nil && len(built) != all:
			t.Errorf("%q built %v, want all %d subcommands", tc.args, built, all)
		case tc.want != nil && !slices.Equal(built, tc.want):
			t.Errorf("%q built %v, want %v", tc.args, built, tc.want)
		}
		if tc.want != nil && !cmd.CompletionOptions.DisableDefaultCmd {
			t.Errorf("%q keeps the completion command", tc.args)
		}
	}
}

// subcommandName returns an argument or nothing, whatever the arguments.
func FuzzSubcommandName(f *testing.F) {
	flags := NewCommand("crisp-oci", nil).PersistentFlags()
	f.Add("--root\x00/r\x00run\x00c1")
	f.Add("--systemd-cgroup\x00--log=x\x00ls")
	f.Add("-v\x004\x00--\x00run")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		if name := subcommandName(args, flags); name != "" && !slices.Contains(args, name) {
			t.Fatalf("subcommandName(%q) = %q, not one of the arguments", args, name)
		}
	})
}
