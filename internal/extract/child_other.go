//go:build !linux

package extract

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// On systems other than Linux a child runs without an address-space cap and without a
// resident-memory watchdog (no /proc); only the timeout protects the parent.

func childSysProcAttr() *syscall.SysProcAttr { return nil }

func childKill(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

func defaultExecutable() (string, error) { return os.Executable() }

func limitAddressSpace(limit int64) error {
	if limit <= 0 {
		return nil
	}
	return errors.New("address space limit: not supported")
}

func processRSS(int) (int64, error) { return 0, errors.New("resident memory: not supported") }
