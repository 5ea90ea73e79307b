package extract

import (
	"fmt"
	"os/exec"
	"syscall"
)

// pdfSysProcAttr puts the child in its own process group, so that a kill reaches anything
// it started, and has the kernel kill it if the parent dies first.
func pdfSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// pdfKill kills the child's process group.
func pdfKill(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}

// pdfLimitAddressSpace caps the growth of the process's address space at limit bytes
// beyond what it has mapped now: a parser that asks for more gets a failed mmap, which the
// Go runtime turns into a fatal "out of memory" error instead of exhausting the machine.
func pdfLimitAddressSpace(limit int64) error {
	vm, err := pdfVMSize()
	if err != nil {
		return fmt.Errorf("address space limit: %w", err)
	}
	lim := uint64(vm + limit)
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		return fmt.Errorf("address space limit: %w", err)
	}
	return nil
}

// pdfRSS returns the resident memory of process pid in bytes.
func pdfRSS(pid int) (int64, error) {
	return pdfProcStatusBytes(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}
