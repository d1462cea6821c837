// Package reliability holds crisp's reliability suite: it drives the real
// daemon binary over its CRI socket as root and checks that crashes, long
// runs and hostile requests lose nothing the daemon acknowledged and leave
// nothing behind on the host. docs/reliability.md describes the suite.
//
// leaks.go is the leak accounting that every part of the suite ends with;
// the tests are in the _test files.
package reliability
