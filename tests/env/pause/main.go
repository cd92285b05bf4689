// Command pause is the process that holds a pod sandbox's namespaces open on the
// test cluster's real node. The upstream pause is C and ships only inside a registry
// image; this one is built from source like every other component. As PID 1 of the
// sandbox it must reap orphaned children (or they stay zombies) and exit promptly on
// SIGTERM/SIGINT, which is how the runtime stops a sandbox.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
