// Package criupb is CRIU's protobuf encoding of the requests and answers
// of package criu (go-criu's rpc messages). Programs that checkpoint or
// restore pass Codec to pkg/oci; programs that link no protobuf do not
// import this package.
package criupb

import (
	"fmt"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"google.golang.org/protobuf/proto"

	"github.com/crisp-runtime/crisp/pkg/criu"
)

// Codec is criu.Codec in CRIU's protobuf messages.
type Codec struct{}

var _ criu.Codec = Codec{}

var requestTypes = map[criu.RequestType]rpc.CriuReqType{
	criu.Dump: rpc.CriuReqType_DUMP, criu.PreDump: rpc.CriuReqType_PRE_DUMP,
	criu.Restore: rpc.CriuReqType_RESTORE, criu.Notify: rpc.CriuReqType_NOTIFY,
}

var cgroupModes = map[criu.CgroupMode]rpc.CriuCgMode{
	criu.CgroupSoft: rpc.CriuCgMode_SOFT, criu.CgroupFull: rpc.CriuCgMode_FULL,
	criu.CgroupStrict: rpc.CriuCgMode_STRICT, criu.CgroupIgnore: rpc.CriuCgMode_IGNORE,
}

// EncodeRequest returns req as a CriuReq message.
func (Codec) EncodeRequest(req criu.Request) ([]byte, error) {
	t, ok := requestTypes[req.Type]
	if !ok {
		return nil, fmt.Errorf("criu request: unknown %s", req.Type)
	}
	msg := &rpc.CriuReq{Type: t.Enum()}
	if req.NotifySuccess {
		msg.NotifySuccess = proto.Bool(true)
	}
	if req.Opts != nil {
		opts, err := encodeOptions(req.Type, req.Opts)
		if err != nil {
			return nil, err
		}
		msg.Opts = opts
	}
	return proto.Marshal(msg)
}

func encodeOptions(t criu.RequestType, o *criu.Options) (*rpc.CriuOpts, error) {
	mode, ok := cgroupModes[o.CgroupMode]
	if !ok {
		return nil, fmt.Errorf("criu request: unknown cgroup mode %d", o.CgroupMode)
	}
	opts := &rpc.CriuOpts{
		ImagesDirFd:       proto.Int32(o.ImagesDirFd),
		WorkDirFd:         proto.Int32(o.WorkDirFd),
		LogLevel:          proto.Int32(o.LogLevel),
		ManageCgroupsMode: mode.Enum(),
		TcpEstablished:    proto.Bool(o.TCPEstablished),
		ExtUnixSk:         proto.Bool(o.ExtUnixSk),
		ShellJob:          proto.Bool(o.ShellJob),
		FileLocks:         proto.Bool(o.FileLocks),
		External:          o.External,
	}
	switch t {
	case criu.Dump, criu.PreDump:
		opts.LeaveRunning = proto.Bool(o.LeaveRunning)
	case criu.Restore:
		opts.LeaveStopped = proto.Bool(o.LeaveStopped)
	}
	setString := func(field **string, v string) {
		if v != "" {
			*field = proto.String(v)
		}
	}
	setString(&opts.LogFile, o.LogFile)
	setString(&opts.Root, o.Root)
	setString(&opts.FreezeCgroup, o.FreezeCgroup)
	setString(&opts.ParentImg, o.ParentImg)
	setString(&opts.ConfigFile, o.ConfigFile)
	setBool := func(field **bool, v bool) {
		if v {
			*field = proto.Bool(true)
		}
	}
	setBool(&opts.ManageCgroups, o.ManageCgroups)
	setBool(&opts.OrphanPtsMaster, o.OrphanPtsMaster)
	setBool(&opts.RstSibling, o.RstSibling)
	setBool(&opts.TrackMem, o.TrackMem)
	setBool(&opts.NotifyScripts, o.NotifyScripts)
	if o.Pid != 0 {
		opts.Pid = proto.Int32(o.Pid)
	}
	for _, m := range o.ExtMounts {
		opts.ExtMnt = append(opts.ExtMnt, &rpc.ExtMountMap{Key: proto.String(m.Key), Val: proto.String(m.Value)})
	}
	for _, fd := range o.InheritFds {
		opts.InheritFd = append(opts.InheritFd, &rpc.InheritFd{Key: proto.String(fd.Key), Fd: proto.Int32(fd.Fd)})
	}
	for _, ns := range o.JoinNamespaces {
		opts.JoinNs = append(opts.JoinNs, &rpc.JoinNamespace{Ns: proto.String(ns.Namespace), NsFile: proto.String(ns.Path)})
	}
	return opts, nil
}

// DecodeResponse reads a CriuResp message. A type crisp never asks for
// decodes as RequestType 0.
func (Codec) DecodeResponse(data []byte) (criu.Response, error) {
	msg := &rpc.CriuResp{}
	if err := proto.Unmarshal(data, msg); err != nil {
		return criu.Response{}, fmt.Errorf("criu response: %w", err)
	}
	resp := criu.Response{
		Success: msg.GetSuccess(), Errmsg: msg.GetCrErrmsg(), Errno: msg.GetCrErrno(),
		NotifyScript: msg.GetNotify().GetScript(), NotifyPid: msg.GetNotify().GetPid(),
	}
	for ours, theirs := range requestTypes {
		if theirs == msg.GetType() {
			resp.Type = ours
		}
	}
	return resp, nil
}
