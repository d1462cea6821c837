// Marks the executable's read-only segments MADV_RANDOM and drops the pages
// of its data segments that exec read ahead, before the Go runtime starts;
// see doc.go.
#define _GNU_SOURCE
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static int advise_executable(struct dl_phdr_info *info, size_t size, void *data)
{
	const int *drop = data;
	long pagesize = sysconf(_SC_PAGESIZE);
	uintptr_t page;
	int exe = -1;

	(void)size;
	if (pagesize <= 0 || (pagesize & (pagesize - 1)) != 0)
		return 1;
	page = (uintptr_t)pagesize;
	// The executable is the first object reported, the one without a name.
	if (info->dlpi_name && info->dlpi_name[0] != '\0')
		return 0;
	if (*drop)
		exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start, end;

		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		// Only hints: a kernel that refuses them reads ahead as before.
		if (!(ph->p_flags & PF_W)) {
			start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
			end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
			(void)madvise((void *)start, end - start, MADV_RANDOM);
		}
		// Pages no process maps are dropped; mapped ones stay. Not those
		// of the writable segment: the first write to each of its pages
		// reads the page, and without MADV_RANDOM (its pages become the
		// process's own) that read would read ahead again.
		if (exe >= 0 && !(ph->p_flags & (PF_X | PF_W)) && ph->p_filesz > 0)
			(void)posix_fadvise(exe, (off_t)ph->p_offset, (off_t)ph->p_filesz, POSIX_FADV_DONTNEED);
	}
	if (exe >= 0)
		close(exe);
	return 1;
}

// glibc passes a constructor the program's arguments. The pages are
// dropped for the daemon only, crisp run without a command (argv[1] absent
// or a flag): it starts once and stays. A command (crisp images …, crisp
// oci …, crisp init as the container side) is short-lived and would only
// read again, one page at a time, what the previous run left cached.
__attribute__((constructor)) static void crisp_readahead(int argc, char **argv)
{
	int drop = argc < 2 || argv == NULL || argv[1] == NULL || argv[1][0] == '-';

	dl_iterate_phdr(advise_executable, &drop);
}
