package extract

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
		vm, _, err := procStatm("self")
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
	_, rss, err := procStatm(strconv.Itoa(pid))
	return rss, err
}

// pageSize is the size of the pages /proc/<pid>/statm counts.
var pageSize = int64(os.Getpagesize())

// procStatm returns the virtual and resident memory of process pid ("self" for this one)
// from /proc/<pid>/statm, in bytes: a line of page counts, much cheaper for the kernel to
// produce than /proc/<pid>/status (this is read for every file, and every 20 ms while a
// child works).
func procStatm(pid string) (vm, rss int64, err error) {
	var buf [128]byte
	f, err := os.Open("/proc/" + pid + "/statm")
	if err != nil {
		return 0, 0, err
	}
	n, err := f.Read(buf[:])
	f.Close()
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(string(buf[:n]))
	if len(fields) < 2 {
		return 0, 0, fmt.Errorf("/proc/%s/statm: %q", pid, buf[:n])
	}
	vmPages, err1 := strconv.ParseInt(fields[0], 10, 64)
	rssPages, err2 := strconv.ParseInt(fields[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%s/statm: %q", pid, buf[:n])
	}
	return vmPages * pageSize, rssPages * pageSize, nil
}
