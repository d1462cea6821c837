// Marks the executable's read-only segments MADV_RANDOM before the Go
// runtime starts; see doc.go.
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static int advise_executable(struct dl_phdr_info *info, size_t size, void *data)
{
	long pagesize = sysconf(_SC_PAGESIZE);
	uintptr_t page;

	(void)size;
	(void)data;
	if (pagesize <= 0 || (pagesize & (pagesize - 1)) != 0)
		return 1;
	page = (uintptr_t)pagesize;
	// The executable is the first object reported, the one without a name.
	if (info->dlpi_name && info->dlpi_name[0] != '\0')
		return 0;
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start, end;

		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) || ph->p_memsz == 0)
			continue;
		start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
		end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		// Only a hint: a kernel that refuses it reads ahead as before.
		(void)madvise((void *)start, end - start, MADV_RANDOM);
	}
	return 1;
}

__attribute__((constructor)) static void crisp_readahead(void)
{
	dl_iterate_phdr(advise_executable, NULL);
}
