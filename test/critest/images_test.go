package main

import (
	"runtime"
	"testing"
)

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
