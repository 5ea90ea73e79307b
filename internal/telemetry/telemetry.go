// Package telemetry sets up OpenTelemetry tracing: spans are exported over OTLP/HTTP when an
// OTLP endpoint is configured, and cost next to nothing when it is not. Middleware starts a
// server span per request.
//
// Nothing here sets OpenTelemetry's globals (otel.SetTracerProvider,
// otel.SetTextMapPropagator): the tracer Setup returns is passed explicitly to whatever
// starts spans, and Middleware reads W3C traceparent headers with its own propagator.
// Libraries that trace through the global provider therefore stay no-ops; should one be
// added, main is the place to set the global, next to slog.SetDefault.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentation names the tracer: the spans come from Docent's own code.
const instrumentation = "github.com/docent-rag/docent"

// The standard variables Setup reads through getenv.
const (
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
)

// Setup returns the tracer for serviceName at version, and the function that flushes and
// stops it at shutdown. It is called once, from main.
//
// When OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a full URL, used as is) or
// OTEL_EXPORTER_OTLP_ENDPOINT (a base URL, to which /v1/traces is appended) is set, spans
// are batched and exported over OTLP/HTTP. Otherwise, or when OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none, the tracer is a no-op and so is shutdown.
//
// getenv decides whether and where to export. The SDK and the exporter read the other
// standard variables (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, OTEL_TRACES_SAMPLER,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, ...) from the process environment themselves.
// Export errors go to OpenTelemetry's error handler, which logs them with the log package.
func Setup(ctx context.Context, getenv func(string) string, serviceName, version string) (shutdown func(context.Context) error, tracer trace.Tracer, err error) {
	noShutdown := func(context.Context) error { return nil }
	noTracer := noop.NewTracerProvider().Tracer(instrumentation)
	endpoint, err := tracesEndpoint(getenv)
	if err != nil {
		return nil, nil, err
	}
	if endpoint == "" || strings.EqualFold(getenv(envSDKDisabled), "true") || getenv(envTracesExporter) == "none" {
		return noShutdown, noTracer, nil
	}
	for _, name := range []string{envTracesProtocol, envProtocol} {
		if p := getenv(name); p != "" {
			if p != "http/protobuf" && p != "http/json" {
				return nil, nil, fmt.Errorf("%s=%s: only OTLP over HTTP (http/protobuf or http/json) is supported", name, p)
			}
			break
		}
	}

	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	// Detectors later in the list win: the environment may rename the service.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(serviceName), semconv.ServiceVersion(version)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("describe the service for tracing: %w", err),
			exporter.Shutdown(context.WithoutCancel(ctx)))
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	shutdown = func(ctx context.Context) error {
		if err := provider.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush traces: %w", err)
		}
		return nil
	}
	return shutdown, provider.Tracer(instrumentation, trace.WithInstrumentationVersion(version)), nil
}

// tracesEndpoint returns the URL to post spans to, or "" when none is configured.
func tracesEndpoint(getenv func(string) string) (string, error) {
	name, raw := envTracesEndpoint, getenv(envTracesEndpoint)
	if raw == "" {
		name, raw = envEndpoint, getenv(envEndpoint)
	}
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not the value itself: it could carry credentials.
		return "", fmt.Errorf("%s is not an http:// or https:// URL", name)
	}
	if name == envEndpoint {
		// The base endpoint gets the signal's path, after any path of its own.
		u = u.JoinPath("v1", "traces")
	}
	return u.String(), nil
}

// Middleware starts a server span for every request, named by method and route template
// ("GET /v1/traces/:id"), as a child of the span in the request's W3C traceparent header if
// there is one, and puts it in the request's context for the handlers. The span records the
// final status code, and is marked as failed for a 5xx.
//
// Like the metrics middleware, it passes a handler's error to echo's HTTPErrorHandler so
// that the status is final, then returns the error up the chain.
func Middleware(tracer trace.Tracer) echo.MiddlewareFunc {
	propagator := propagation.TraceContext{}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			ctx := propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			ctx, span := tracer.Start(ctx, req.Method+" "+route,
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					semconv.HTTPRequestMethodKey.String(req.Method),
					semconv.HTTPRoute(route),
					semconv.URLPath(req.URL.Path),
				))
			defer span.End()
			c.SetRequest(req.WithContext(ctx))

			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if status >= http.StatusInternalServerError {
				// The status, not the error's text: it may hold internal details.
				span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			return err
		}
	}
}
