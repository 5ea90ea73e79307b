package extract

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"syscall"
)

// childSysProcAttr puts a child in its own process group, so that a kill reaches anything
// it started, and has the kernel kill it if the parent dies first.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childKill kills a child's process group.
func childKill(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}

// defaultExecutable is the program started as a child: this very program. /proc/self/exe
// stays the binary this process runs even when the file is replaced (a deployment during
// an ingest run), so that parent and child always speak the same protocol.
func defaultExecutable() (string, error) {
	if _, err := os.Stat("/proc/self/exe"); err == nil {
		return "/proc/self/exe", nil
	}
	return os.Executable()
}

// limitAddressSpace caps the growth of this process's address space at limit bytes beyond
// what it has mapped now (the soft RLIMIT_AS): a parser that asks for more gets a failed
// mmap, which the Go runtime turns into a fatal "out of memory" error instead of exhausting
// the machine. limit <= 0 lifts the cap (back to the hard limit).
func limitAddressSpace(limit int64) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err != nil {
		return fmt.Errorf("address space limit: %w", err)
	}
	rl.Cur = rl.Max
	if limit > 0 {
		vm, err := procStatusBytes("/proc/self/status", "VmSize:")
		if err != nil {
			return fmt.Errorf("address space limit: %w", err)
		}
		if want := uint64(min(vm+limit, math.MaxInt64)); want < rl.Max {
			rl.Cur = want
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &rl); err != nil {
		return fmt.Errorf("address space limit: %w", err)
	}
	return nil
}

// processRSS returns the resident memory of process pid in bytes.
func processRSS(pid int) (int64, error) {
	return procStatusBytes(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}
