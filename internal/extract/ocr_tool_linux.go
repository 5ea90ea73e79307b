package extract

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

var environ = os.Environ

// limitTool sets the address space and file size limits of process pid (prlimit(2)).
func limitTool(pid int, l toolLimits) error {
	set := func(resource int, v int64) error {
		lim := syscall.Rlimit{Cur: uint64(v), Max: uint64(v)}
		_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(resource),
			uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
		if errno != 0 {
			return fmt.Errorf("limit the OCR tool (resource %d): %w", resource, errno)
		}
		return nil
	}
	if l.memory > 0 {
		if err := set(syscall.RLIMIT_AS, l.memory); err != nil {
			return err
		}
	}
	if l.fileSize > 0 {
		if err := set(syscall.RLIMIT_FSIZE, l.fileSize); err != nil {
			return err
		}
	}
	return set(syscall.RLIMIT_CORE, 0)
}
