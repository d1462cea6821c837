package image

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// lockedBuffer is a bytes.Buffer safe for klog's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPullLogsProgress(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	opts := testOptions(t, DriverOverlay, reg)
	opts.ProgressInterval = 100 * time.Millisecond
	s := openTestStore(t, opts)
	ref := stalledImage(t, reg, "progress/image:1")

	var logs lockedBuffer
	klog.LogToStderr(false)
	klog.SetOutput(&logs)
	defer func() {
		klog.Flush()
		klog.SetOutput(nil)
		klog.LogToStderr(true)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if _, err := s.Pull(ctx, ref, nil); err == nil {
		t.Fatal("a stalled pull finished")
	}
	klog.Flush()
	lines := regexp.MustCompile(`"Pulling image" image="[^"]+" bytesDone=(\d+) bytesTotal=(\d+)`).FindAllStringSubmatch(logs.String(), -1)
	if len(lines) < 3 {
		t.Fatalf("got %d progress lines in 700ms at a 100ms interval:\n%s", len(lines), logs.String())
	}
	last := lines[len(lines)-1]
	done, _ := strconv.ParseUint(last[1], 10, 64)
	total, _ := strconv.ParseUint(last[2], 10, 64)
	// The first 1 MiB layer and half the stalled one arrived.
	if done < 1<<20 || done > total || total < 2<<20 {
		t.Errorf("last progress %d of %d bytes, want over 1 MiB of about 2 MiB", done, total)
	}
}
