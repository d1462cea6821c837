package main

// timerslack.c raises crisp-oci's timer slack before Go starts.

/*
#cgo CFLAGS: -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wall -Wextra -Werror -Wformat=2 -Wformat-security
extern unsigned long crisp_oci_caller_timer_slack;
*/
import "C"

import "time"

// callerTimerSlack is the timer slack the caller gave this process before
// timerslack.c raised it, or 0 when it was left alone.
func callerTimerSlack() time.Duration {
	return time.Duration(C.crisp_oci_caller_timer_slack)
}
