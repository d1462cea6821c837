package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// localhostSeccomp loads the profile file at path on the host.
func localhostSeccomp(field, path string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	if !filepath.IsAbs(path) {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("%q is not an absolute path", path))
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.InvalidField(field, fmt.Sprintf("seccomp profile %s does not exist", path))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
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
