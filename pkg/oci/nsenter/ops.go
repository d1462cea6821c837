package nsenter

// #include "init.h"
import "C"

// Op is an operation of the container init's program. init.h defines the
// operations and their arguments; these are the same numbers.
type Op uint32

// The operations; see init.h for the arguments of each.
const (
	OpMount           Op = C.CRISP_OP_MOUNT
	OpOpenRoot        Op = C.CRISP_OP_OPEN_ROOT
	OpMountInRoot     Op = C.CRISP_OP_MOUNT_IN_ROOT
	OpBindInRoot      Op = C.CRISP_OP_BIND_IN_ROOT
	OpRemountInRoot   Op = C.CRISP_OP_REMOUNT_IN_ROOT
	OpPropagateInRoot Op = C.CRISP_OP_PROPAGATE_IN_ROOT
	OpMknodInRoot     Op = C.CRISP_OP_MKNOD_IN_ROOT
	OpBindDevice      Op = C.CRISP_OP_BIND_DEVICE
	OpSymlinkInRoot   Op = C.CRISP_OP_SYMLINK_IN_ROOT
	OpHooksSync       Op = C.CRISP_OP_HOOKS_SYNC
	OpHook            Op = C.CRISP_OP_HOOK
	OpPivotRoot       Op = C.CRISP_OP_PIVOT_ROOT
	OpSethostname     Op = C.CRISP_OP_SETHOSTNAME
	OpSetdomainname   Op = C.CRISP_OP_SETDOMAINNAME
	OpWriteFile       Op = C.CRISP_OP_WRITE_FILE
	OpMaskPath        Op = C.CRISP_OP_MASK_PATH
	OpReadonlyPath    Op = C.CRISP_OP_READONLY_PATH
	OpRemount         Op = C.CRISP_OP_REMOUNT
	OpConsole         Op = C.CRISP_OP_CONSOLE
	OpChdir           Op = C.CRISP_OP_CHDIR
	OpRlimit          Op = C.CRISP_OP_RLIMIT
	OpLookPath        Op = C.CRISP_OP_LOOK_PATH
	OpSeccomp         Op = C.CRISP_OP_SECCOMP
	OpCapBounding     Op = C.CRISP_OP_CAP_BOUNDING
	OpKeepCaps        Op = C.CRISP_OP_KEEP_CAPS
	OpSetgroups       Op = C.CRISP_OP_SETGROUPS
	OpSetresgid       Op = C.CRISP_OP_SETRESGID
	OpSetresuid       Op = C.CRISP_OP_SETRESUID
	OpCapset          Op = C.CRISP_OP_CAPSET
	OpUmask           Op = C.CRISP_OP_UMASK
	OpNoNewPrivs      Op = C.CRISP_OP_NO_NEW_PRIVS
	OpReady           Op = C.CRISP_OP_READY
	OpWaitStart       Op = C.CRISP_OP_WAIT_START
	OpExec            Op = C.CRISP_OP_EXEC
	OpPrepareExec     Op = C.CRISP_OP_PREPARE_EXEC
	OpSetattrInRoot   Op = C.CRISP_OP_SETATTR_IN_ROOT
	OpAppArmor        Op = C.CRISP_OP_APPARMOR
	OpSharedRoot      Op = C.CRISP_OP_SHARED_ROOT
	OpDetachRoot      Op = C.CRISP_OP_DETACH_ROOT
	OpAttachRoot      Op = C.CRISP_OP_ATTACH_ROOT
	OpAttachInRoot    Op = C.CRISP_OP_ATTACH_IN_ROOT
)

// ReaperEnv, set in the environment of a re-executed crisp, makes it the
// pod reaper (reaper.c) before the Go runtime starts.
const ReaperEnv = "_CRISP_REAPER"

// SpareEnv and SpareExeEnv, set in the environment of a re-executed crisp,
// make it a spare (spare.c): it waits on the descriptor SpareEnv names for
// the descriptors and environment of one launch, after closing the one
// SpareExeEnv names. SpareMaxFiles and SpareMaxEnv bound a launch.
const (
	SpareEnv      = "_CRISP_SPARE"
	SpareExeEnv   = "_CRISP_SPARE_EXE"
	SpareMaxFiles = C.CRISP_SPARE_MAX_FILES
	SpareMaxEnv   = C.CRISP_SPARE_MAX_ENV
)
