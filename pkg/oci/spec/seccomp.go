package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// buildSeccomp returns the container's seccomp filter from
// linux.security_context.seccomp, or from the deprecated
// seccomp_profile_path when seccomp is unset. Neither set means
// unconfined, as the CRI says (kubelet sends RuntimeDefault explicitly when
// a pod asks for it). RuntimeDefault is moby's default profile for the
// container's final capabilities; Localhost loads a profile file in moby's
// format, which also reads a plain OCI LinuxSeccomp. A privileged container
// is unconfined. s.Process.Capabilities must be final.
func buildSeccomp(s *specs.Spec, sc *runtimeapi.LinuxContainerSecurityContext) (*specs.LinuxSeccomp, error) {
	if sc.GetPrivileged() {
		return nil, nil
	}
	const field = "linux.security_context."
	if p := sc.GetSeccomp(); p != nil {
		switch p.GetProfileType() {
		case runtimeapi.SecurityProfile_Unconfined:
			return nil, nil
		case runtimeapi.SecurityProfile_RuntimeDefault:
			return defaultSeccomp(s)
		case runtimeapi.SecurityProfile_Localhost:
			return localhostSeccomp(field+"seccomp.localhost_ref", p.GetLocalhostRef(), s)
		default:
			return nil, errdefs.InvalidField(field+"seccomp.profile_type", fmt.Sprintf("unknown profile type %d", p.GetProfileType()))
		}
	}
	//lint:ignore SA1019 kubelets before 1.25 still send only the path.
	switch path := sc.GetSeccompProfilePath(); {
	case path == "" || path == "unconfined":
		return nil, nil
	case path == "runtime/default" || path == "docker/default":
		return defaultSeccomp(s)
	case strings.HasPrefix(path, "localhost/"):
		return localhostSeccomp(field+"seccomp_profile_path", strings.TrimPrefix(path, "localhost/"), s)
	default:
		return nil, errdefs.InvalidField(field+"seccomp_profile_path", fmt.Sprintf("%q is not runtime/default, unconfined or localhost/<path>", path))
	}
}

// defaultSeccomp is moby's default profile: system calls outside its list
// fail with an error (ENOSYS for unknown ones, EPERM otherwise); those that
// need a capability are allowed when the container has it.
func defaultSeccomp(s *specs.Spec) (*specs.LinuxSeccomp, error) {
	profile, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	return profile, nil
}

// maxSeccompProfileSize caps a Localhost seccomp profile file. moby's
// default profile, which lists every system call, is about 20 KiB of JSON;
// 1 MiB leaves room for any real profile while bounding what a request can
// make the daemon read and hold.
const maxSeccompProfileSize = 1 << 20

// CheckLocalhostSeccomp loads the Localhost profile at path as a
// container's would be loaded, naming field in its error: for a pod's
// security context, whose profile no process of its own uses.
func CheckLocalhostSeccomp(field, path string) error {
	_, err := localhostSeccomp(field, path, &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
	return err
}

// localhostSeccomp loads the profile file at path on the host. The path is
// the request's, so it may name anything: only a regular file of at most
// maxSeccompProfileSize bytes is read.
func localhostSeccomp(field, path string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	if !filepath.IsAbs(path) {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("%q is not an absolute path", path))
	}
	data, err := readProfile(field, path)
	if err != nil {
		return nil, err
	}
	profile, err := seccomp.LoadProfile(string(data), s)
	if err != nil {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("seccomp profile %s: %v", path, err))
	}
	if profile == nil {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("seccomp profile %s has no defaultAction and no syscalls", path))
	}
	return profile, nil
}

// readProfile reads the regular file at path, refusing anything else
// before it is opened for reading: opening a FIFO blocks until a writer
// comes, and opening a device can have effects of its own. The file is
// first opened with O_PATH, checked, then reopened through that handle, so
// what is read is what was checked.
func readProfile(field, path string) ([]byte, error) {
	handle, err := os.OpenFile(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("seccomp profile %s does not exist", path))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	defer handle.Close()
	fi, err := handle.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("seccomp profile %s is not a regular file (%s)", path, fi.Mode().Type()))
	}
	if fi.Size() > maxSeccompProfileSize {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("seccomp profile %s is larger than %d bytes", path, maxSeccompProfileSize))
	}
	f, err := pathrs.Reopen(handle, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	defer f.Close()
	// The file may grow after the check; the read is bounded regardless.
	data, err := io.ReadAll(io.LimitReader(f, maxSeccompProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read seccomp profile %s: %w", field, path, err)
	}
	if len(data) > maxSeccompProfileSize {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("seccomp profile %s is larger than %d bytes", path, maxSeccompProfileSize))
	}
	return data, nil
}
