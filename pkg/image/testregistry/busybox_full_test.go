package testregistry

import (
	"maps"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApplets(t *testing.T) {
	for _, tc := range []struct {
		name, list  string
		dirs, links []string
	}{
		{
			name:  "parents before links, each once",
			list:  "usr/bin/[\nbin/sh\nusr/sbin/httpd\nusr/bin/top\nsbin/ip\n",
			dirs:  []string{"usr", "usr/bin", "usr/sbin", "sbin"},
			links: []string{"usr/bin/[", "bin/sh", "usr/sbin/httpd", "usr/bin/top", "sbin/ip"},
		},
		{
			name:  "busybox itself, top-level entries and stood-in applets are left out",
			list:  "bin/busybox\nlinuxrc\nbin/ls\nusr/bin/pgrep\n",
			dirs:  []string{"usr", "usr/bin"},
			links: []string{"bin/ls"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs, links := applets(tc.list)
			if !slices.Equal(dirs, tc.dirs) || !slices.Equal(links, tc.links) {
				t.Errorf("applets(%q) = %q, %q; want %q, %q", tc.list, dirs, links, tc.dirs, tc.links)
			}
		})
	}
}

func TestAppletsInBin(t *testing.T) {
	got := appletsInBin([]string{"bin/sh", "sbin/sysctl", "usr/bin/env", "usr/sbin/sh"})
	want := map[string]string{
		"bin/sysctl": "bin/busybox",
		"bin/env":    "bin/busybox",
		"bin/ipcs":   "usr/bin/ipcs",
		"bin/pgrep":  "usr/bin/pgrep",
	}
	if !maps.Equal(got, want) {
		t.Errorf("appletsInBin = %v, want %v", got, want)
	}
}

func TestSameImages(t *testing.T) {
	a, err := Image("amd64", v1.Config{Cmd: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Image("amd64", v1.Config{Cmd: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	same, err := SameImages([]Named{{Refs: []string{"x:1"}, Image: a}, {Refs: []string{"y:1"}, Image: b}, {Refs: []string{"z:1"}, Image: a}})
	if err != nil || len(same) != 1 || same[0][:17] != "z:1 and x:1 are t" {
		t.Errorf("SameImages = %q, %v; want z:1 named the same image as x:1", same, err)
	}
}
