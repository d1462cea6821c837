// Package seccomp owns the compilation of an OCI runtime-spec LinuxSeccomp
// profile into a classic BPF program, in pure Go without libseccomp. The
// container's init (pkg/oci/nsenter) installs the program.
//
// The program checks the audit architecture first (x86_64, with x32 system
// calls told apart by their number bit, i386, and aarch64), then matches rules in
// the profile's order: the first rule whose system call and argument
// conditions match decides the action; otherwise the default action
// applies. System call names unknown to an architecture are skipped with a
// warning, as runc does.
package seccomp
