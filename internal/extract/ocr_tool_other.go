//go:build !linux

package extract

import "os"

var environ = os.Environ

// limitTool sets no limit outside Linux: only the time limit protects the child.
func limitTool(int, toolLimits) error { return nil }
