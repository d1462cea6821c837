package main

// handover.c hands `crisp oci …` over to crisp-oci before Go starts.

/*
#cgo CFLAGS: -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wall -Wextra -Werror -Wformat=2 -Wformat-security
*/
import "C"
