package extract

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// toolLimits bound one run of an external program (pdftoppm, tesseract, soffice.bin).
type toolLimits struct {
	memory   int64 // address space, bytes (RLIMIT_AS); 0 for none
	output   int   // bytes of standard output kept; more fails the run
	fileSize int64 // bytes of any file it writes (RLIMIT_FSIZE); 0 for none
	// env is added to the tool's minimal environment (toolEnviron).
	env []string
	// noNetwork runs the tool in a network namespace of its own, without interfaces but
	// loopback (Linux); a system that refuses one fails the start with errIsolation.
	noNetwork bool
}

// errIsolation: the tool could not be started in a network namespace of its own.
var errIsolation = errors.New("no network namespace")

// errToolOutput: a tool wrote more than its output limit.
var errToolOutput = errors.New("output over its limit")

// runTool runs program with args until ctx is done, under limits, and returns its standard
// output. The program runs under its limits from its start (toolCommand), in its own
// process group with a minimal environment (one thread for Tesseract's OpenMP: the children
// already use the cores), dies with this process, and its group is killed when ctx is done
// or its output passes the limit.
func runTool(ctx context.Context, limits toolLimits, program string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", program, err)
	}
	cmd, err := toolCommand(limits, path, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", program, err)
	}
	cmd.Env = append(toolEnviron(), limits.env...)
	stdout := &cappedBuffer{max: limits.output + 1}
	stderr := &cappedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = childSysProcAttr()
	if limits.noNetwork {
		isolateNetwork(cmd.SysProcAttr)
	}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		if limits.noNetwork {
			return nil, fmt.Errorf("%s: %w: %v", program, errIsolation, err)
		}
		return nil, fmt.Errorf("%s: %w", program, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = childKill(cmd)
		<-done
		return nil, fmt.Errorf("%s did not finish in time: %w", program, context.Cause(ctx))
	}
	name := program[strings.LastIndexByte(program, '/')+1:]
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return nil, fmt.Errorf("%s: %w: %s", name, err, truncate(msg, 512))
	}
	out := []byte(stdout.String())
	if len(out) > limits.output {
		return nil, fmt.Errorf("%s: %w (%d bytes)", name, errToolOutput, limits.output)
	}
	return out, nil
}

// toolEnviron is a tool's environment: the locale and Tesseract's data directory from this
// process (a child, whose own environment is already reduced), one OpenMP thread.
func toolEnviron() []string {
	env := []string{"OMP_THREAD_LIMIT=1", "MALLOC_ARENA_MAX=2"}
	for _, kv := range environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "TESSDATA_PREFIX", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR":
			env = append(env, kv)
		}
	}
	return env
}
