//go:build !linux

package extract

import (
	"os"
	"os/exec"
)

var environ = os.Environ

// toolCommand runs path without limits outside Linux: only the time limit protects the
// child.
func toolCommand(_ toolLimits, path string, args ...string) (*exec.Cmd, error) {
	return exec.Command(path, args...), nil
}
