// Command nonewprivs prints its effective uid. critest-registry installs it
// set-user-ID root as the entrypoint of the image critest's no_new_privs
// specs run: run as a user, it prints 0 unless no_new_privs kept the
// set-user-ID bit from taking effect.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
