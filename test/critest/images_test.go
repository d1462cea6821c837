package main

import (
	"runtime"
	"slices"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestApplets(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		want       []testregistry.File
	}{
		{
			name: "parents before links, each once",
			list: "usr/bin/[\nbin/sh\nusr/sbin/httpd\nusr/bin/top\n",
			want: []testregistry.File{
				{Name: "usr/", Dir: true},
				{Name: "usr/bin/", Dir: true},
				{Name: "usr/sbin/", Dir: true},
				{Name: "usr/bin/[", Linkname: "/bin/busybox"},
				{Name: "bin/sh", Linkname: "/bin/busybox"},
				{Name: "usr/sbin/httpd", Linkname: "/bin/busybox"},
				{Name: "usr/bin/top", Linkname: "/bin/busybox"},
			},
		},
		{
			name: "busybox itself and top-level entries are left out",
			list: "bin/busybox\nlinuxrc\nbin/ls\n",
			want: []testregistry.File{{Name: "bin/ls", Linkname: "/bin/busybox"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := applets(tc.list)
			if !slices.EqualFunc(got, tc.want, func(a, b testregistry.File) bool {
				return a.Name == b.Name && a.Dir == b.Dir && a.Linkname == b.Linkname
			}) {
				t.Errorf("applets(%q) =\n%+v\nwant\n%+v", tc.list, got, tc.want)
			}
		})
	}
}

// Images of different specs must differ (critest removes images by id),
// and the references of one spec must share an image.
func TestImagesAreDistinct(t *testing.T) {
	imgs, err := images(runtime.GOARCH)
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
