// Package readahead keeps the kernel from reading ahead the crisp binary's
// own read-only pages. Importing it is all it takes: a C constructor runs
// before the Go runtime starts and marks every read-only segment of the
// executable MADV_RANDOM.
//
// Why: the daemon runs a small part of a large binary. Its read-only data
// (type descriptors, strings, and the pc-value tables the runtime reads to
// scan stacks) is looked up a few bytes at a time, all over the file. With
// the default read-ahead every such fault reads in and maps up to 128 KiB
// around it, so after start-up most of the file is resident in the daemon
// and in the page cache although little of it was read. With MADV_RANDOM a
// fault reads and maps one page. Some kernels (6.18, for one) read ahead
// of a fault in an executable mapping whatever its advice, so there the
// hint takes effect on the data segments only. Writable segments are left
// alone: what is written there is the daemon's own memory either way.
//
// The cost is a page fault per page on first use instead of one per
// read-ahead window, paid once per page.
package readahead

/*
#cgo CFLAGS: -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wall -Wextra -Werror -Wformat=2 -Wformat-security
*/
import "C"
