package criupb

import (
	"reflect"
	"testing"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"google.golang.org/protobuf/proto"

	"github.com/crisp-runtime/crisp/pkg/criu"
)

// A dump request reaches CRIU with every option crisp set, the four
// permissions and leave_running sent even when false (so that a CRIU
// configuration file cannot turn them on), and nothing crisp left unset.
func TestEncodeDump(t *testing.T) {
	data, err := Codec{}.EncodeRequest(criu.Request{Type: criu.PreDump, Opts: &criu.Options{
		ImagesDirFd: 7, WorkDirFd: 8, LogLevel: 4, LogFile: "pre-dump.log", Pid: 1234, Root: "/rootfs",
		ManageCgroups: true, CgroupMode: criu.CgroupStrict, FreezeCgroup: "/sys/fs/cgroup/c",
		ShellJob: true, OrphanPtsMaster: true, TrackMem: true, ParentImg: "../parent", NotifyScripts: true,
		ExtMounts: []criu.KeyValue{{Key: "/data", Value: "/data"}}, External: []string{"net[4026531840]:crisp-external-net"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got rpc.CriuReq
	if err := proto.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := &rpc.CriuReq{Type: rpc.CriuReqType_PRE_DUMP.Enum(), Opts: &rpc.CriuOpts{
		ImagesDirFd: proto.Int32(7), WorkDirFd: proto.Int32(8), LogLevel: proto.Int32(4), LogFile: proto.String("pre-dump.log"),
		Pid: proto.Int32(1234), Root: proto.String("/rootfs"), ManageCgroups: proto.Bool(true),
		ManageCgroupsMode: rpc.CriuCgMode_STRICT.Enum(), FreezeCgroup: proto.String("/sys/fs/cgroup/c"),
		LeaveRunning: proto.Bool(false), TcpEstablished: proto.Bool(false), ExtUnixSk: proto.Bool(false),
		ShellJob: proto.Bool(true), FileLocks: proto.Bool(false), OrphanPtsMaster: proto.Bool(true),
		TrackMem: proto.Bool(true), ParentImg: proto.String("../parent"), NotifyScripts: proto.Bool(true),
		ExtMnt:   []*rpc.ExtMountMap{{Key: proto.String("/data"), Val: proto.String("/data")}},
		External: []string{"net[4026531840]:crisp-external-net"},
	}}
	if !proto.Equal(&got, want) {
		t.Errorf("encoded\n%v\nwant\n%v", &got, want)
	}
}

// A restore sends leave_stopped, not leave_running, and its descriptors
// and namespaces.
func TestEncodeRestore(t *testing.T) {
	data, err := Codec{}.EncodeRequest(criu.Request{Type: criu.Restore, Opts: &criu.Options{
		ImagesDirFd: 3, WorkDirFd: 3, LogLevel: 4, LogFile: "restore.log", Root: "/rootfs", RstSibling: true,
		ManageCgroups: true, CgroupMode: criu.CgroupIgnore, ConfigFile: "/work/crisp-restore.conf", LeaveStopped: true,
		InheritFds:     []criu.InheritFd{{Key: "crisp-external-net", Fd: 9}, {Key: "pipe:[77]", Fd: 1}},
		JoinNamespaces: []criu.JoinNamespace{{Namespace: "ipc", Path: "/proc/1/ns/ipc"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got rpc.CriuReq
	if err := proto.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := &rpc.CriuReq{Type: rpc.CriuReqType_RESTORE.Enum(), Opts: &rpc.CriuOpts{
		ImagesDirFd: proto.Int32(3), WorkDirFd: proto.Int32(3), LogLevel: proto.Int32(4), LogFile: proto.String("restore.log"),
		Root: proto.String("/rootfs"), RstSibling: proto.Bool(true), ManageCgroups: proto.Bool(true),
		ManageCgroupsMode: rpc.CriuCgMode_IGNORE.Enum(), ConfigFile: proto.String("/work/crisp-restore.conf"),
		LeaveStopped: proto.Bool(true), TcpEstablished: proto.Bool(false), ExtUnixSk: proto.Bool(false),
		ShellJob: proto.Bool(false), FileLocks: proto.Bool(false),
		InheritFd: []*rpc.InheritFd{
			{Key: proto.String("crisp-external-net"), Fd: proto.Int32(9)},
			{Key: proto.String("pipe:[77]"), Fd: proto.Int32(1)},
		},
		JoinNs: []*rpc.JoinNamespace{{Ns: proto.String("ipc"), NsFile: proto.String("/proc/1/ns/ipc")}},
	}}
	if !proto.Equal(&got, want) {
		t.Errorf("encoded\n%v\nwant\n%v", &got, want)
	}
}

// The answer to a notification carries no options.
func TestEncodeNotifyAnswer(t *testing.T) {
	data, err := Codec{}.EncodeRequest(criu.Request{Type: criu.Notify, NotifySuccess: true})
	if err != nil {
		t.Fatal(err)
	}
	var got rpc.CriuReq
	if err := proto.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := &rpc.CriuReq{Type: rpc.CriuReqType_NOTIFY.Enum(), NotifySuccess: proto.Bool(true)}
	if !proto.Equal(&got, want) {
		t.Errorf("encoded %v, want %v", &got, want)
	}
}

// Types and cgroup modes the codec does not know are refused, not sent as
// CRIU's defaults.
func TestEncodeRefusesUnknown(t *testing.T) {
	if _, err := (Codec{}).EncodeRequest(criu.Request{Type: criu.RequestType(99)}); err == nil {
		t.Error("an unknown request type was encoded")
	}
	if _, err := (Codec{}).EncodeRequest(criu.Request{Type: criu.Dump, Opts: &criu.Options{}}); err == nil {
		t.Error("a request without a cgroup mode was encoded")
	}
}

func TestDecodeResponse(t *testing.T) {
	for name, tc := range map[string]struct {
		msg  *rpc.CriuResp
		want criu.Response
	}{
		"success": {
			&rpc.CriuResp{Type: rpc.CriuReqType_DUMP.Enum(), Success: proto.Bool(true)},
			criu.Response{Type: criu.Dump, Success: true},
		},
		"failure": {
			&rpc.CriuResp{Type: rpc.CriuReqType_RESTORE.Enum(), Success: proto.Bool(false), CrErrno: proto.Int32(2), CrErrmsg: proto.String("no images")},
			criu.Response{Type: criu.Restore, Errno: 2, Errmsg: "no images"},
		},
		"notification": {
			&rpc.CriuResp{Type: rpc.CriuReqType_NOTIFY.Enum(), Success: proto.Bool(true), Notify: &rpc.CriuNotify{Script: proto.String("post-restore"), Pid: proto.Int32(42)}},
			criu.Response{Type: criu.Notify, Success: true, NotifyScript: "post-restore", NotifyPid: 42},
		},
		"a type crisp never asks for": {
			&rpc.CriuResp{Type: rpc.CriuReqType_CHECK.Enum(), Success: proto.Bool(true)},
			criu.Response{Success: true},
		},
	} {
		data, err := proto.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Codec{}.DecodeResponse(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, tc.want)
		}
	}
	if _, err := (Codec{}).DecodeResponse([]byte{0xff, 0xff, 0xff}); err == nil {
		t.Error("a malformed response was decoded")
	}
}

// FuzzDecodeResponse feeds arbitrary packets, as a CRIU gone wrong could
// send: decoding returns an answer or an error, never panics.
func FuzzDecodeResponse(f *testing.F) {
	for _, msg := range []*rpc.CriuResp{
		{Type: rpc.CriuReqType_DUMP.Enum(), Success: proto.Bool(true)},
		{Type: rpc.CriuReqType_NOTIFY.Enum(), Success: proto.Bool(true), Notify: &rpc.CriuNotify{Script: proto.String("post-restore"), Pid: proto.Int32(42)}},
	} {
		data, err := proto.Marshal(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := Codec{}.DecodeResponse(data)
		if err != nil && resp != (criu.Response{}) {
			t.Errorf("an error came with an answer: %+v", resp)
		}
	})
}
