package image

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"go.podman.io/storage"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func TestZZPutLayer(t *testing.T) {
	s := openTestStore(t, testOptions(t, DriverOverlay))
	l, _ := testregistry.RandomLayer(5, 10<<20, testregistry.Gzip)
	rc, _ := l.Compressed()
	blob, _ := io.ReadAll(rc)
	f, _ := os.CreateTemp("", "blob")
	f.Write(blob)
	f.Close()
	defer os.Remove(f.Name())
	for i := range 5 {
		id := string(rune('a'+i)) + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
		start := time.Now()
		_, _, err := s.store.PutLayer(id, "", nil, "", false, &storage.LayerOptions{}, bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("PutLayer %v", time.Since(start))
	}
}
