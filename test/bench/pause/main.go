// Command pause is the sandbox process of the pause image that
// hack/peers/containerd.sh builds for peer runtimes, which cannot pull
// registry.k8s.io/pause without network access. Like Kubernetes' pause it
// does nothing but hold the pod's namespaces: it reaps children adopted as
// PID 1 of a shared PID namespace and exits on SIGINT or SIGTERM.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
