package main

import (
	"runtime"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// Images of different specs must differ (critest removes images by id),
// and the references of one spec must share an image.
func TestImagesAreDistinct(t *testing.T) {
	imgs, err := images(runtime.GOARCH, []byte("nonewprivs"))
	if err != nil {
		t.Skipf("needs /bin/busybox (Debian package busybox-static): %v", err)
	}
	same, err := testregistry.SameImages(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range same {
		t.Error(msg)
	}
	if len(imgs) != len(specs(runtime.GOARCH)) {
		t.Errorf("built %d images of %d specs", len(imgs), len(specs(runtime.GOARCH)))
	}
}
