// crisp-oci's Go runtime wakes its sysmon thread every 20 µs while a
// goroutine runs or sits in a system call, backing off to 10 ms only when
// nothing changes for a while, and a `crisp-oci run` keeps changing: a
// few hundred wake-ups per command, each a timer interrupt and a context
// switch that, on a small virtual machine, preempts the command's own
// thread. With a timer slack of TIMER_SLACK_NS on crisp-oci's threads the
// kernel coalesces them (about 1 ms of a `crisp-oci run` on a 2-core
// host, docs/oci.md). The constructor raises the slack of the first
// thread, which every thread of the Go runtime inherits, before the
// runtime starts; the processes crisp-oci starts get the caller's slack
// back (pkg/oci, Options.ChildTimerSlack).
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/prctl.h>

#define TIMER_SLACK_NS 1000000

// crisp_oci_caller_timer_slack is the slack the caller gave this process,
// in nanoseconds, or 0 when the constructor left the slack alone.
unsigned long crisp_oci_caller_timer_slack;

__attribute__((constructor)) static void crisp_oci_raise_timer_slack(void)
{
	int slack;

	// The executor re-executes this binary as a container's first process
	// or a reaper (pkg/oci/nsenter), which keep the caller's slack.
	if (getenv("_CRISP_INIT_SYNC") || getenv("_CRISP_REAPER") || getenv("_CRISP_SPARE"))
		return;
	slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (slack <= 0 || slack >= TIMER_SLACK_NS)
		return;
	if (prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0) == 0)
		crisp_oci_caller_timer_slack = (unsigned long)slack;
}
