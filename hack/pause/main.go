// Command pause is the test bed's sandbox and workload image for the real
// node: it prints one line and waits for SIGTERM or SIGINT, as the pause
// container does. With the argument "exit" it returns at once (exit 0), for
// init containers. The bed cross-compiles it per architecture, so an image
// of another architecture fails exactly as a real one does: exec format error.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	fmt.Printf("pullguard pause %s/%s %v\n", runtime.GOOS, runtime.GOARCH, os.Args[1:])
	if len(os.Args) > 1 && os.Args[1] == "exit" {
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
