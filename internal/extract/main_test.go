package extract

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// parentEnv, when "1", makes the test binary act as a parent of extraction children that is
// about to be killed (see TestChildrenDieWithTheirParent).
const parentEnv = "DOCENT_TEST_EXTRACT_PARENT"

// TestMain lets the test binary act as an extraction child: a Runner re-executes the running
// binary.
func TestMain(m *testing.M) {
	RunChildIfRequested()
	if os.Getenv(parentEnv) == "1" {
		os.Exit(actAsParent())
	}
	os.Exit(m.Run())
}

// actAsParent starts two children, one idle and one busy with a file that never ends, prints
// their process ids and waits to be killed.
func actAsParent() int {
	r, err := NewRunner(Config{Workers: 2, Timeout: time.Hour, testMode: func(name string) string {
		if name == "hang.md" {
			return "hang"
		}
		return ""
	}})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	go func() { _, _ = r.Extract(context.Background(), "hang.md", []byte("# B\n")) }()
	for len(r.childPIDs()) < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := r.Extract(context.Background(), "a.md", []byte("# A\n")); err != nil { // the other child, idle after
		fmt.Println(err)
		return 1
	}
	time.Sleep(100 * time.Millisecond) // the request reaches the busy child
	fmt.Println(r.childPIDs())
	select {}
}
