//go:build !linux

package extract

import (
	"errors"
	"os/exec"
	"syscall"
)

// On systems other than Linux the child runs without an address-space cap and without a
// resident-memory watchdog (no /proc); only the timeout protects the parent.

func pdfSysProcAttr() *syscall.SysProcAttr { return nil }

func pdfKill(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

func pdfLimitAddressSpace(int64) error { return errors.New("address space limit: not supported") }

func pdfRSS(int) (int64, error) { return 0, errors.New("resident memory: not supported") }
