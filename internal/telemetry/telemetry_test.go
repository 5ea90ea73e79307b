package telemetry_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/docent-rag/docent/internal/telemetry"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestSetupWithoutEndpointIsNoop(t *testing.T) {
	t.Parallel()
	for name, vars := range map[string]map[string]string{
		"no endpoint":  {},
		"sdk disabled": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
		"exporter off": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			shutdown, tracer, err := telemetry.Setup(context.Background(), env(vars), "docent", "test")
			if err != nil {
				t.Fatal(err)
			}
			_, span := tracer.Start(context.Background(), "x")
			if span.IsRecording() || span.SpanContext().IsValid() {
				t.Error("the tracer records spans without an endpoint")
			}
			span.End()
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

func TestSetupRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	for name, vars := range map[string]map[string]string{
		"no scheme": {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		"grpc":      {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"secret":    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://user:hunter2@collector"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := telemetry.Setup(context.Background(), env(vars), "docent", "test")
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the endpoint's password: %v", err)
			}
		})
	}
}

// collector is an OTLP/HTTP endpoint that keeps what it receives.
type collector struct {
	mu       sync.Mutex
	paths    []string
	requests []*collectortrace.ExportTraceServiceRequest
	errs     []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paths = append(c.paths, r.Method+" "+r.URL.Path)
	body, err := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		c.errs = append(c.errs, "content type "+ct)
	}
	if err != nil {
		c.errs = append(c.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.requests = append(c.requests, &req)
	resp, err := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	if err != nil {
		c.errs = append(c.errs, err.Error())
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (c *collector) spans() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var spans []*tracepb.Span
	for _, req := range c.requests {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}
	return spans
}

func TestSpansArriveAtTheCollectorAfterShutdown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		variable string
		path     string // appended to the server's URL
		wantPath string
	}{
		{"base endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "/v1/traces"},
		{"base endpoint with a path", "OTEL_EXPORTER_OTLP_ENDPOINT", "/otlp/", "/otlp/v1/traces"},
		{"traces endpoint as is", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/custom/spans", "/custom/spans"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			col := &collector{}
			srv := httptest.NewServer(col)
			t.Cleanup(srv.Close)
			ctx := context.Background()
			shutdown, tracer, err := telemetry.Setup(ctx, env(map[string]string{tc.variable: srv.URL + tc.path}), "docent-test", "v1.2.3")
			if err != nil {
				t.Fatal(err)
			}

			e := echo.New()
			e.Use(telemetry.Middleware(tracer))
			var handlerSpan trace.SpanContext
			e.GET("/v1/traces/:id", func(c echo.Context) error {
				handlerSpan = trace.SpanContextFromContext(c.Request().Context())
				return c.NoContent(http.StatusNoContent)
			})
			e.GET("/boom", func(c echo.Context) error { return echo.NewHTTPError(http.StatusServiceUnavailable) })

			const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			req := httptest.NewRequest(http.MethodGet, "/v1/traces/req-42", nil)
			req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent {
				t.Fatalf("status %d", rec.Code)
			}
			if got := handlerSpan.TraceID().String(); got != traceID {
				t.Errorf("the handler's span is in trace %s, want the caller's %s", got, traceID)
			}
			rec = httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))

			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := shutdown(sctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			col.mu.Lock()
			paths, errs := col.paths, col.errs
			col.mu.Unlock()
			if len(paths) == 0 || paths[0] != "POST "+tc.wantPath {
				t.Errorf("collector saw %q, want POST %s", paths, tc.wantPath)
			}
			if len(errs) > 0 {
				t.Errorf("collector: %v", errs)
			}
			byName := make(map[string]*tracepb.Span)
			for _, s := range col.spans() {
				byName[s.Name] = s
			}
			s, ok := byName["GET /v1/traces/:id"]
			if !ok {
				t.Fatalf("no span named by the route template; got %v", byName)
			}
			if got := hex.EncodeToString(s.TraceId); got != traceID {
				t.Errorf("span trace id %s, want %s", got, traceID)
			}
			if got := hex.EncodeToString(s.ParentSpanId); got != parentID {
				t.Errorf("span parent %s, want %s", got, parentID)
			}
			if s.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("span kind %v", s.Kind)
			}
			attrs := make(map[string]string)
			for _, kv := range s.Attributes {
				attrs[kv.Key] = kv.Value.String()
			}
			for key, want := range map[string]string{"http.route": "/v1/traces/:id", "http.response.status_code": "204"} {
				if !strings.Contains(attrs[key], want) {
					t.Errorf("attribute %s = %s, want %s", key, attrs[key], want)
				}
			}
			boom, ok := byName["GET /boom"]
			if !ok {
				t.Fatal("no span for the failed request")
			}
			if boom.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("a 503 span has status %v, want error", boom.Status.GetCode())
			}
			if len(boom.ParentSpanId) != 0 {
				t.Errorf("a request without traceparent has a parent span")
			}
		})
	}
}
