//go:build !linux

package extract

import "syscall"

// isolateNetwork does nothing outside Linux: LibreOffice runs with the network (see
// Runner.LegacyStatus).
func isolateNetwork(*syscall.SysProcAttr) {}

// isFileSizeSignal reports false outside Linux, where no file size limit is set.
func isFileSizeSignal(error) bool { return false }
