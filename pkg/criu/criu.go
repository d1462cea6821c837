// Package criu owns crisp's side of CRIU's RPC interface (`criu swrk`):
// the requests pkg/oci sends and the answers it reads, in crisp's own
// types, and Codec, which turns them into CRIU's messages and back.
//
// CRIU's messages are protobuf. Their encoding lives in criupb, apart from
// these types, so that a program that never checkpoints (crisp-oci) links
// no protobuf: its package initialisers and pages cost every fresh process
// a few milliseconds.
package criu

import "strconv"

// RequestType is what a request asks of CRIU, or what it answers.
type RequestType int

// The request types crisp uses.
const (
	Dump RequestType = iota + 1
	PreDump
	Restore
	// Notify answers one of CRIU's notifications, and is how CRIU sends
	// them.
	Notify
)

// String names the type as CRIU's protocol does.
func (t RequestType) String() string {
	switch t {
	case Dump:
		return "DUMP"
	case PreDump:
		return "PRE_DUMP"
	case Restore:
		return "RESTORE"
	case Notify:
		return "NOTIFY"
	}
	return "type " + strconv.Itoa(int(t))
}

// CgroupMode is how CRIU treats the cgroups of the processes it dumps or
// restores (its --manage-cgroups mode).
type CgroupMode int

// CRIU's cgroup modes.
const (
	CgroupSoft CgroupMode = iota + 1
	CgroupFull
	CgroupStrict
	CgroupIgnore
)

// Options are the options of a request (CRIU's criu_opts): those crisp
// sets. A zero field is not sent, except those whose comments say
// otherwise.
type Options struct {
	// ImagesDirFd and WorkDirFd are descriptors of the caller, which CRIU
	// opens through /proc; both are always sent.
	ImagesDirFd, WorkDirFd int32
	// LogLevel (always sent) and LogFile, in the work directory.
	LogLevel int32
	LogFile  string
	// Pid is the root of the tree a dump takes.
	Pid  int32
	Root string
	// ManageCgroups and CgroupMode (always sent) say whether and how CRIU
	// dumps and restores cgroups.
	ManageCgroups bool
	CgroupMode    CgroupMode
	// FreezeCgroup is the cgroup CRIU freezes to seize a dump's processes.
	FreezeCgroup string
	// LeaveRunning keeps a dumped tree running; it is always sent with a
	// dump or pre-dump.
	LeaveRunning bool
	// LeaveStopped leaves a restored tree stopped; it is always sent with
	// a restore.
	LeaveStopped bool
	// TCPEstablished, ExtUnixSk, ShellJob and FileLocks allow what
	// their names say; all four are always sent, so that a CRIU
	// configuration file on the host cannot turn one on unasked.
	TCPEstablished, ExtUnixSk, ShellJob, FileLocks bool
	// OrphanPtsMaster lets CRIU dump a terminal whose master is outside.
	OrphanPtsMaster bool
	// RstSibling makes the restored tree the sibling of CRIU (the child
	// of CRIU's parent) rather than its child.
	RstSibling bool
	// TrackMem and ParentImg make a dump incremental.
	TrackMem  bool
	ParentImg string
	// ConfigFile is a CRIU configuration file for options its RPC lacks.
	ConfigFile string
	// NotifyScripts has CRIU send its notifications to the caller.
	NotifyScripts bool
	// ExtMounts map external mounts: a dump's keys, a restore's sources.
	ExtMounts []KeyValue
	// External names external resources ("net[<inode>]:<key>").
	External []string
	// InheritFds are descriptors of CRIU a restore gives the restored
	// resources with these keys.
	InheritFds []InheritFd
	// JoinNamespaces are namespaces a restore joins by path.
	JoinNamespaces []JoinNamespace
}

// KeyValue is one external mount: its key in the images and its value.
type KeyValue struct{ Key, Value string }

// InheritFd is a descriptor of CRIU's that stands for the resource Key.
type InheritFd struct {
	Key string
	Fd  int32
}

// JoinNamespace is a namespace of kind Namespace ("ipc", "uts", "mnt")
// that a restore joins through the file Path.
type JoinNamespace struct{ Namespace, Path string }

// Request is one message to CRIU.
type Request struct {
	Type RequestType
	// Opts go with every request but Notify's answer.
	Opts *Options
	// NotifySuccess answers a notification.
	NotifySuccess bool
}

// Response is one message from CRIU: the answer to a request, or a
// notification (Type Notify) that waits for the caller's.
type Response struct {
	Type    RequestType
	Success bool
	// Errmsg and Errno say why a request failed.
	Errmsg string
	Errno  int32
	// NotifyScript and NotifyPid are a notification's name
	// ("post-restore", ...) and process.
	NotifyScript string
	NotifyPid    int32
}

// Codec encodes requests as CRIU's messages and decodes its answers.
// criupb.Codec is CRIU's protobuf encoding.
type Codec interface {
	EncodeRequest(Request) ([]byte, error)
	DecodeResponse([]byte) (Response, error)
}
