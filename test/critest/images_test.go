package main

import (
	"runtime"
	"slices"
	"testing"
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

// Images of different specs must differ (critest removes images by id),
// and the references of one spec must share an image.
func TestImagesAreDistinct(t *testing.T) {
	imgs, err := images(runtime.GOARCH, []byte("nonewprivs"))
	if err != nil {
		t.Skipf("needs /bin/busybox (Debian package busybox-static): %v", err)
	}
	seen := map[string]string{}
	for _, im := range imgs {
		d, err := im.img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := seen[d.String()]; ok {
			t.Errorf("%s and %s are the same image %s", im.refs[0], other, d)
		}
		seen[d.String()] = im.refs[0]
	}
	if len(imgs) != len(specs(runtime.GOARCH)) {
		t.Errorf("built %d images of %d specs", len(imgs), len(specs(runtime.GOARCH)))
	}
}
