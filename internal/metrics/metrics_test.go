package metrics_test

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/metrics"
)

// scrape GETs /metrics from m's handler and returns each sample line's value by its series
// (name{labels}).
func scrape(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	series := make(map[string]float64)
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

func wantSeries(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for s, v := range want {
		g, ok := got[s]
		switch {
		case !ok:
			t.Errorf("no series %s", s)
		case g != v:
			t.Errorf("%s = %v, want %v", s, g, v)
		}
	}
}

func TestHandlerExposesRecordedFamilies(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.ObserveStep(metrics.StepEmbed, 3*time.Millisecond)
	m.ObserveStep(metrics.StepEmbed, 2*time.Second)
	m.ObserveStep("made_up", time.Millisecond)
	m.ModelError("timeout")
	m.ModelError("timeout")
	m.ModelError("dial tcp 10.0.0.7:443: connection refused") // not a label value
	m.Fallback("extractive")
	m.Refusal("no_evidence")
	m.Cache(true)
	m.Cache(false)
	m.Cache(false)
	m.TraceDropped()
	m.TraceWriteError()
	m.RateLimited()
	m.Feedback("down")
	m.Feedback("down")
	m.Feedback("up")

	got := scrape(t, m)
	wantSeries(t, got, map[string]float64{
		`docent_step_duration_seconds_count{step="embed"}`:             2,
		`docent_step_duration_seconds_sum{step="embed"}`:               2.003,
		`docent_step_duration_seconds_bucket{step="embed",le="0.005"}`: 1,
		`docent_step_duration_seconds_count{step="other"}`:             1,
		`docent_step_duration_seconds_count{step="generate"}`:          0, // every step exists from the start
		`docent_model_errors_total{kind="timeout"}`:                    2,
		`docent_model_errors_total{kind="other"}`:                      1,
		`docent_fallbacks_total{kind="extractive"}`:                    1,
		`docent_refusals_total{reason="no_evidence"}`:                  1,
		`docent_answer_cache_total{result="hit"}`:                      1,
		`docent_answer_cache_total{result="miss"}`:                     2,
		`docent_traces_dropped_total`:                                  1,
		`docent_trace_write_errors_total`:                              1,
		`docent_rate_limited_total`:                                    1,
		`docent_feedback_total{rating="down"}`:                         2,
		`docent_feedback_total{rating="up"}`:                           1,
	})
	for _, s := range metrics.Steps() {
		if _, ok := got[`docent_step_duration_seconds_count{step="`+s+`"}`]; !ok {
			t.Errorf("no series for step %s", s)
		}
	}
	for s := range got {
		if strings.Contains(s, "10.0.0.7") {
			t.Errorf("an error message became a label value: %s", s)
		}
	}
	// The Go and process collectors.
	for _, s := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := got[s]; !ok {
			t.Errorf("no series %s", s)
		}
	}
}

func TestMetricsHaveTheirOwnRegistry(t *testing.T) {
	t.Parallel()
	a, b := metrics.New(), metrics.New()
	a.RateLimited()
	if got := scrape(t, b)["docent_rate_limited_total"]; got != 0 {
		t.Errorf("a second Metrics sees the first's counts: %v", got)
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.ObserveStep(metrics.StepTotal, time.Second)
	m.ModelError("timeout")
	m.Cache(true)
	m.TraceDropped()
	m.Feedback("up")
	e := echo.New()
	e.Use(m.Middleware())
	e.GET("/x", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusNoContent {
		t.Errorf("status %d through a nil Metrics' middleware", rec.Code)
	}
}

var errTeapot = errors.New("teapot")

func TestMiddlewareLabelsByRouteTemplate(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	e := echo.New()
	// The application's error handler decides the status of an error, as internal/api's does.
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status := http.StatusInternalServerError
		var he *echo.HTTPError
		switch {
		case errors.Is(err, errTeapot):
			status = http.StatusTeapot
		case errors.As(err, &he):
			status = he.Code
		}
		if err := c.NoContent(status); err != nil {
			t.Error(err)
		}
	}
	e.Use(m.Middleware())
	e.GET("/v1/traces/:id", func(c echo.Context) error {
		if c.Param("id") == "missing" {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		return c.String(http.StatusOK, c.Param("id"))
	})
	e.POST("/v1/answer", func(c echo.Context) error { return errTeapot })

	for _, r := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v1/traces/req-1", http.StatusOK},
		{http.MethodGet, "/v1/traces/req-2", http.StatusOK},
		{http.MethodGet, "/v1/traces/missing", http.StatusNotFound},
		{http.MethodPost, "/v1/answer", http.StatusTeapot},
		{http.MethodGet, "/wp-admin/secret-123", http.StatusNotFound},
		{"BREW", "/v1/answer", http.StatusMethodNotAllowed},
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, nil))
		if rec.Code != r.status {
			t.Errorf("%s %s: status %d, want %d", r.method, r.path, rec.Code, r.status)
		}
	}

	got := scrape(t, m)
	wantSeries(t, got, map[string]float64{
		`http_requests_total{method="GET",route="/v1/traces/:id",status="200"}`: 2,
		`http_requests_total{method="GET",route="/v1/traces/:id",status="404"}`: 1,
		`http_requests_total{method="POST",route="/v1/answer",status="418"}`:    1,
		`http_requests_total{method="GET",route="unmatched",status="404"}`:      1,
		`http_requests_total{method="other",route="/v1/answer",status="405"}`:   1,
		`http_request_duration_seconds_count{route="/v1/traces/:id"}`:           3,
	})
	for s := range got {
		if strings.Contains(s, "req-1") || strings.Contains(s, "secret-123") || strings.Contains(s, "BREW") {
			t.Errorf("a raw request value became a label value: %s", s)
		}
	}
}
