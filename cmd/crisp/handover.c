// `crisp oci …` is served by crisp-oci, the executor's own program, when one
// is installed beside crisp: it links none of the image, CNI and CRI code
// whose Go initialisers make up most of crisp's start-up. The hand-over is
// an execve in a constructor, before the Go runtime starts, so crisp costs
// the command only its dynamic loading. Without crisp-oci beside it, crisp
// serves the command itself.
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDOVER_NAME "crisp-oci"

// glibc passes the program's arguments to ELF constructors.
__attribute__((constructor)) static void crisp_oci_handover(int argc, char **argv, char **envp)
{
	char path[PATH_MAX];
	ssize_t n;
	char *slash;

	if (argc < 2 || argv == NULL || argv[1] == NULL || strcmp(argv[1], "oci") != 0)
		return;
	// A container's init or a pod's reaper is crisp re-executed by the
	// executor (pkg/oci/nsenter); CRISP_OCI_IN_PROCESS keeps the command in
	// crisp (tests of the fallback).
	if (getenv("_CRISP_INIT_SYNC") || getenv("_CRISP_REAPER") || getenv("CRISP_OCI_IN_PROCESS"))
		return;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0 || (size_t)n >= sizeof(path) - 1)
		return;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (slash == NULL || (size_t)(slash + 1 - path) + sizeof(HANDOVER_NAME) > sizeof(path))
		return;
	memcpy(slash + 1, HANDOVER_NAME, sizeof(HANDOVER_NAME));
	// On success this does not return; on any failure (no crisp-oci, not
	// executable) crisp goes on and serves the command itself.
	execve(path, argv, envp);
}
