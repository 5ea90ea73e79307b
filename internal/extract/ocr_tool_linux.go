package extract

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
)

var environ = os.Environ

// prlimitProgram finds util-linux's prlimit (Essential in Debian), in its usual places
// first: the extraction children run with a reduced environment, without PATH.
var prlimitProgram = sync.OnceValues(func() (string, error) {
	for _, p := range []string{"/usr/bin/prlimit", "/bin/prlimit"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath("prlimit")
})

// toolCommand returns the command that runs path with args under l: util-linux's prlimit
// sets the address space, file size and core limits on itself and then executes the
// program, so the limits hold from the program's first instruction (setting them on the
// running program with prlimit(2) left it a moment without them). The program keeps the
// process, so its exit status and signals are the command's.
func toolCommand(l toolLimits, path string, args ...string) (*exec.Cmd, error) {
	prlimit, err := prlimitProgram()
	if err != nil {
		return nil, fmt.Errorf("util-linux's prlimit, which runs the external tools under their limits: %w", err)
	}
	wrapped := []string{"--core=0"}
	if l.memory > 0 {
		wrapped = append(wrapped, "--as="+strconv.FormatInt(l.memory, 10))
	}
	if l.fileSize > 0 {
		wrapped = append(wrapped, "--fsize="+strconv.FormatInt(l.fileSize, 10))
	}
	wrapped = append(append(wrapped, "--", path), args...)
	return exec.Command(prlimit, wrapped...), nil
}
