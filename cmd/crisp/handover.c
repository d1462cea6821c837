// `crisp oci …` is served by crisp-oci, the executor's own program, when one
// is installed beside crisp: it links none of the image, CNI and CRI code
// whose Go initialisers make up most of crisp's start-up. The hand-over is
// an execve in a constructor, before the Go runtime starts, so crisp costs
// the command only its dynamic loading. Without crisp-oci beside it, crisp
// serves the command itself.
//
// crisp-oci is a short command that mostly waits for one process after
// another: its Go runtime starts with a single P unless the caller set
// GOMAXPROCS, which saves it threads, per-P caches and their page faults
// (about 0.9 ms of a `crisp oci run` on a 2-core host, docs/oci.md). Only
// the runtime reads the value: HANDOVER_MARK tells crisp-oci to remove
// both variables before it starts anything, so that the processes it
// starts see the caller's environment.
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDOVER_NAME "crisp-oci"
#define HANDOVER_MARK "_CRISP_OCI_GOMAXPROCS=1"

// with_gomaxprocs is envp with GOMAXPROCS=1 and HANDOVER_MARK, or envp
// itself when it sets GOMAXPROCS already or on any failure.
static char **with_gomaxprocs(char **envp)
{
	static char gomaxprocs[] = "GOMAXPROCS=1", mark[] = HANDOVER_MARK;
	size_t n = 0;
	char **env;

	if (envp == NULL)
		return envp;
	for (; envp[n] != NULL; n++)
		if (strncmp(envp[n], "GOMAXPROCS=", strlen("GOMAXPROCS=")) == 0)
			return envp;
	env = calloc(n + 3, sizeof(*env));
	if (env == NULL)
		return envp;
	memcpy(env, envp, n * sizeof(*env));
	env[n] = gomaxprocs;
	env[n + 1] = mark;
	return env;
}

// glibc passes the program's arguments to ELF constructors.
__attribute__((constructor)) static void crisp_oci_handover(int argc, char **argv, char **envp)
{
	char path[PATH_MAX];
	ssize_t n;
	char *slash, **env;

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
	env = with_gomaxprocs(envp);
	execve(path, argv, env);
	if (env != envp)
		free(env);
}
