package extract

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// isolateNetwork starts a tool in a network namespace of its own (only loopback, down): as
// root directly, otherwise inside a user namespace of its own that maps this user to
// itself (Debian allows unprivileged user namespaces by default).
func isolateNetwork(attr *syscall.SysProcAttr) {
	attr.Cloneflags |= syscall.CLONE_NEWNET
	if uid, gid := os.Geteuid(), os.Getegid(); uid != 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
	}
}

// isFileSizeSignal reports whether a tool died of SIGXFSZ: it wrote past its RLIMIT_FSIZE.
func isFileSizeSignal(err error) bool {
	var e *exec.ExitError
	if !errors.As(err, &e) {
		return false
	}
	ws, ok := e.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGXFSZ
}
