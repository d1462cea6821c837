package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// Every image is its own: two agnhost tags are two images, as upstream.
func TestImagesAreDistinct(t *testing.T) {
	imgs, err := images(runtime.GOARCH, contents{agnhost: []byte("agnhost"), pause: []byte("pause"), sh: []byte("sh"), nonewprivs: []byte("nnp")})
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
	if len(imgs) < 7 {
		t.Errorf("built %d images, want 7", len(imgs))
	}
}

func TestPrivateAddress(t *testing.T) {
	if err := privateAddress("127.0.0.1:5000"); err != nil {
		t.Errorf("loopback refused: %v", err)
	}
	for _, addr := range []string{"localhost:5000", "8.8.8.8:5000", "10.77.0.1"} {
		if err := privateAddress(addr); err == nil {
			t.Errorf("%s was accepted", addr)
		}
	}
	// The host's namespace stood in for by this process's own: the
	// registry is refused there, and allowed in another one.
	if err := privateAddressIn("10.77.0.1:5000", "/proc/self/ns/net", "/proc/self/ns/net"); err == nil || !strings.Contains(err.Error(), "host's network namespace") {
		t.Errorf("a private address in the host's network namespace: %v, want a refusal", err)
	}
	if err := privateAddressIn("10.77.0.1:5000", "/proc/self/ns/net", "/proc/self/ns/user"); err != nil {
		t.Errorf("a private address in a namespace of its own: %v, want it allowed", err)
	}
}
