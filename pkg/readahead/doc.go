// Package readahead keeps the kernel from reading ahead, and mapping, the
// crisp binary's own data that the daemon never reads. Importing it is all
// it takes: a C constructor runs before the Go runtime starts, marks every
// read-only segment of the executable MADV_RANDOM and drops from the page
// cache what exec read ahead of the read-only data.
//
// Why: the daemon runs a small part of a large binary. Its read-only data
// (type descriptors, strings, and the pc-value tables the runtime reads to
// scan stacks) is looked up a few bytes at a time, all over the file. With
// the default read-ahead every such fault reads in megabytes around it, and
// every fault maps the cached pages around it (the kernel's fault-around,
// 64 KiB), so after start-up most of the file is resident in the daemon
// and in the page cache although little of it was read. With MADV_RANDOM a
// fault reads one page. The advice comes too late for exec itself, though:
// the first instruction's fault reads ahead megabytes past the end of the
// text into the read-only data, and exec's own write to the end of the
// data segment reads megabytes around it, all before any constructor runs.
// So, in the daemon (crisp run without a command), the constructor also
// drops those pages from the page cache (POSIX_FADV_DONTNEED on the file
// ranges of the read-only data segments);
// pages some process maps are not dropped, so other processes running the
// binary keep theirs. Afterwards a page of data is read, and mapped, when
// the daemon first touches it. Code is left cached: some kernels (6.18,
// for one) read ahead of a fault in an executable mapping whatever its
// advice, and would read it all again. So is the writable segment, whose
// pages become the process's own at their first write either way.
//
// The cost is a page read per page on first use instead of one per
// read-ahead window: on the 2-core build host the daemon takes about 55 ms
// longer to start from a cold page cache, 125 ms instead of 70
// (docs/benchmarks.md). Commands (crisp images …, crisp oci …, and crisp
// executed as the container side) keep the page cache as it is: they run
// briefly and often, and would read it again page by page each time. Pages
// still being written back when the daemon starts (a binary just
// installed) cannot be dropped and stay cached.
package readahead

/*
#cgo CFLAGS: -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wall -Wextra -Werror -Wformat=2 -Wformat-security
*/
import "C"
