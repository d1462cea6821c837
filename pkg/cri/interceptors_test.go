package cri

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
)

// What a client does routinely (probing an optional RPC, asking for what is
// gone, ending a stream) is no error in the daemon's log; anything else is.
func TestLogCallLevels(t *testing.T) {
	var buf bytes.Buffer
	flags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(flags)
	if err := flags.Parse([]string{"-logtostderr=false", "-v=0"}); err != nil {
		t.Fatal(err)
	}
	klog.SetOutput(&buf)
	t.Cleanup(func() {
		klog.SetOutput(nil)
		_ = flags.Parse([]string{"-logtostderr=true"})
	})
	for _, tc := range []struct {
		code  codes.Code
		error bool
	}{
		{codes.OK, false},
		{codes.Unimplemented, false},
		{codes.NotFound, false},
		{codes.Canceled, false},
		{codes.InvalidArgument, true},
		{codes.Internal, true},
		{codes.DeadlineExceeded, true},
	} {
		buf.Reset()
		var err error
		if tc.code != codes.OK {
			err = status.Error(tc.code, "x")
		}
		logCall("/runtime.v1.RuntimeService/Test", time.Now(), err)
		klog.Flush()
		if got := strings.Contains(buf.String(), "CRI call failed"); got != tc.error {
			t.Errorf("%s: logged as an error %v, want %v (log %q)", tc.code, got, tc.error, buf.String())
		}
	}
}
