package embed

import (
	"net/http"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	tr := &retryTransport{baseDelay: 100 * time.Millisecond, maxDelay: time.Second}
	now := time.Now()
	h := http.Header{"Retry-After": {"30"}}
	if d := tr.delay(1, h, now); d != time.Second {
		t.Errorf("Retry-After 30 with a 1s cap: delay %s, want 1s", d)
	}
	if d := tr.delay(1, http.Header{"Retry-After": {"0"}}, now); d != 0 {
		t.Errorf("Retry-After 0: delay %s, want 0", d)
	}
	// Full jitter: uniform in [0, min(max, base·2^(n-1))].
	for attempt, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		var hi time.Duration
		lo := ceiling
		for range 2000 {
			d := tr.delay(attempt, http.Header{}, now)
			hi, lo = max(hi, d), min(lo, d)
		}
		if hi > ceiling || hi < ceiling*9/10 || lo > ceiling/10 {
			t.Errorf("attempt %d: delays in [%s, %s], want spread over [0, %s]", attempt, lo, hi, ceiling)
		}
	}
}
