// Package metrics holds the server's Prometheus metrics in one struct with its own registry,
// the /metrics handler that exposes them, and an echo middleware for request metrics.
//
// Callers record through small typed methods (ObserveStep, Refusal, ...) rather than by
// building label values, and every label value is bounded: routes are echo's route
// templates, steps come from a fixed list, and a kind or reason that is not a short
// snake_case identifier is recorded as "other", so that an error message or user input
// passed by mistake cannot create a series per request.
//
// A nil *Metrics records nothing, for tests and tools that have no use for metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The steps of answering a request, as docent_step_duration_seconds labels them, in the
// order of the request path; StepTotal is the whole request. They are plain strings because
// the same names go into a trace's "steps".
const (
	StepAuth      = "auth"
	StepNormalize = "normalize"
	StepRewrite   = "rewrite"
	StepEmbed     = "embed"
	StepLexical   = "lexical"
	StepDense     = "dense"
	StepFuse      = "fuse"
	StepRerank    = "rerank"
	StepAssemble  = "assemble"
	StepGenerate  = "generate"
	StepValidate  = "validate"
	StepTotal     = "total"
)

// Steps returns every step, in the order of the request path.
func Steps() []string {
	return []string{StepAuth, StepNormalize, StepRewrite, StepEmbed, StepLexical, StepDense,
		StepFuse, StepRerank, StepAssemble, StepGenerate, StepValidate, StepTotal}
}

// other replaces a label value outside the bounded set.
const other = "other"

// Metrics is the server's metrics and their registry. Its methods are safe for concurrent
// use.
type Metrics struct {
	registry *prometheus.Registry
	steps    map[string]prometheus.Observer

	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	modelErrors      *prometheus.CounterVec
	fallbacks        *prometheus.CounterVec
	refusals         *prometheus.CounterVec
	cacheHits        prometheus.Counter
	cacheMisses      prometheus.Counter
	tracesDropped    prometheus.Counter
	traceWriteErrors prometheus.Counter
	rateLimited      prometheus.Counter
	feedback         *prometheus.CounterVec
	reads            *prometheus.CounterVec
	replicaSkips     *prometheus.CounterVec
	replicaUp        *prometheus.GaugeVec
	replicaState     *prometheus.GaugeVec
	replicaStale     *prometheus.GaugeVec
}

// New returns the metrics, registered in a new registry together with the Go runtime and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	// Requests run from milliseconds (a cached answer, a refusal) to a minute (a slow model).
	requestBuckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}
	// Steps start below a millisecond (fusion, a cached embedding).
	stepBuckets := append([]float64{.0005, .001, .0025}, requestBuckets...)

	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route template.",
			Buckets: requestBuckets,
		}, []string{"route"}),
		modelErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docent_model_errors_total",
			Help: "Failed calls to a model (embedding, rewriting, reranking, generation), by kind.",
		}, []string{"kind"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docent_fallbacks_total",
			Help: "Requests answered by a fallback, by kind.",
		}, []string{"kind"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docent_refusals_total",
			Help: "Questions refused, by reason.",
		}, []string{"reason"}),
		tracesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "docent_traces_dropped_total",
			Help: "Answer traces not stored because the trace writer's buffer was full or the server was shutting down.",
		}),
		traceWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "docent_trace_write_errors_total",
			Help: "Failed writes of answer traces (a batch the database rejected, or an invalid trace).",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "docent_rate_limited_total",
			Help: "Requests rejected by the rate limiter.",
		}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docent_feedback_total",
			Help: "Ratings of answers stored (a replaced rating counts again), by rating.",
		}, []string{"rating"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docent_reads_total",
			Help: "Retrievals (answers and searches), by the database that served them: primary, or a read replica's name (replica1 ...).",
		}, []string{"database"}),
		replicaSkips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docent_replica_skips_total",
			Help: "Requests given a read replica that were served by the primary instead, by reason (generation, lagging, failed ...).",
		}, []string{"reason"}),
		replicaUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "docent_replica_in_use",
			Help: "1 while a read replica serves reads, 0 while it is skipped.",
		}, []string{"replica"}),
		replicaState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "docent_replica_state",
			Help: "1 for a read replica's current state: in_use, or why it is skipped (unreachable, not_a_standby, other_database, primary_unknown, generation, lagging, failed, unchecked).",
		}, []string{"replica", "state"}),
		replicaStale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "docent_replica_staleness_seconds",
			Help: "How far behind the primary a read replica was at its last check (an upper bound); 0 when unknown.",
		}, []string{"replica"}),
	}
	stepDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "docent_step_duration_seconds",
		Help:    "Time spent in each step of answering a request.",
		Buckets: stepBuckets,
	}, []string{"step"})
	m.steps = make(map[string]prometheus.Observer)
	for _, s := range append(Steps(), other) {
		m.steps[s] = stepDuration.WithLabelValues(s)
	}
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "docent_answer_cache_total",
		Help: "Answer cache look-ups, by result.",
	}, []string{"result"})
	m.cacheHits, m.cacheMisses = cache.WithLabelValues("hit"), cache.WithLabelValues("miss")

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.requestDuration, stepDuration, m.modelErrors, m.fallbacks, m.refusals,
		cache, m.tracesDropped, m.traceWriteErrors, m.rateLimited, m.feedback,
		m.reads, m.replicaSkips, m.replicaUp, m.replicaState, m.replicaStale,
	)
	return m
}

// Handler serves the metrics in the Prometheus exposition format, for /metrics.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveStep records the duration of one step of a request (one of the Step constants).
// A step outside Steps is recorded as "other".
func (m *Metrics) ObserveStep(step string, d time.Duration) {
	if m == nil {
		return
	}
	o, ok := m.steps[step]
	if !ok {
		o = m.steps[other]
	}
	o.Observe(d.Seconds())
}

// ModelError counts a failed model call. kind is a short snake_case identifier such as
// timeout, rate_limited, unavailable or bad_response.
func (m *Metrics) ModelError(kind string) {
	if m != nil {
		m.modelErrors.WithLabelValues(label(kind)).Inc()
	}
}

// Fallback counts a request answered by a fallback, such as extractive.
func (m *Metrics) Fallback(kind string) {
	if m != nil {
		m.fallbacks.WithLabelValues(label(kind)).Inc()
	}
}

// Refusal counts a refused question, by reason (no_evidence, ...).
func (m *Metrics) Refusal(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(label(reason)).Inc()
	}
}

// Cache counts an answer cache look-up as docent_answer_cache_total{result="hit"} or
// {result="miss"}.
func (m *Metrics) Cache(hit bool) {
	switch {
	case m == nil:
	case hit:
		m.cacheHits.Inc()
	default:
		m.cacheMisses.Inc()
	}
}

// TraceDropped counts an answer trace that was not stored for lack of room or time.
func (m *Metrics) TraceDropped() {
	if m != nil {
		m.tracesDropped.Inc()
	}
}

// TraceWriteError counts a failed write of answer traces.
func (m *Metrics) TraceWriteError() {
	if m != nil {
		m.traceWriteErrors.Inc()
	}
}

// RateLimited counts a request rejected by the rate limiter.
func (m *Metrics) RateLimited() {
	if m != nil {
		m.rateLimited.Inc()
	}
}

// Feedback counts a stored rating of an answer, by rating (up, down).
func (m *Metrics) Feedback(rating string) {
	if m != nil {
		m.feedback.WithLabelValues(label(rating)).Inc()
	}
}

// Read counts a retrieval served by database (primary, replica1 ...); skipped, when not
// empty, is why the replica the request was given was left for the primary.
func (m *Metrics) Read(database, skipped string) {
	if m == nil {
		return
	}
	m.reads.WithLabelValues(label(database)).Inc()
	if skipped != "" {
		m.replicaSkips.WithLabelValues(label(skipped)).Inc()
	}
}

// ReplicaStatus records a read replica's state after a check: in use, or the reason it is
// skipped, and its staleness.
func (m *Metrics) ReplicaStatus(replica string, inUse bool, reason string, staleness time.Duration) {
	if m == nil {
		return
	}
	replica = label(replica)
	state := "in_use"
	if !inUse {
		state = label(reason)
	}
	up := 0.0
	if inUse {
		up = 1
	}
	m.replicaUp.WithLabelValues(replica).Set(up)
	m.replicaState.DeletePartialMatch(prometheus.Labels{"replica": replica})
	m.replicaState.WithLabelValues(replica, state).Set(1)
	m.replicaStale.WithLabelValues(replica).Set(staleness.Seconds())
}

// Middleware records every request's count and duration by route template (c.Path(), so
// /v1/traces/:id rather than each id) and final status. Requests that matched no route are
// recorded under the route "unmatched".
//
// An error from the handler is passed to echo's HTTPErrorHandler here (as echo's
// RequestLogger does with HandleError), because the status code is only known once the
// error has been written; the error is then returned up the chain as usual, and the
// handler, finding the response committed, does not write it twice.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if m == nil {
			return next
		}
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			m.observeRequest(route(c), c.Request().Method, c.Response().Status, time.Since(start))
			return err
		}
	}
}

// route returns the request's route template for a label or span name: c.Path(), or
// "unmatched" when no route matched.
func route(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}

func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, requestMethod(method), strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route).Observe(d.Seconds())
}

// requestMethod bounds the method label: net/http accepts any token as a method.
func requestMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return other
}

// label returns v when it is a short snake_case identifier, and "other" otherwise.
func label(v string) string {
	if v == "" || len(v) > 40 {
		return other
	}
	for _, r := range v {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return other
		}
	}
	return v
}
