package api_test

// Helpers the API tests share: requests to a test server, decoding responses and event
// streams, checking responses against openapi.json, and ingesting the demo corpus.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	sse "github.com/tmaxmax/go-sse"

	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// exchange is a request sent to a test server and its response, read whole.
type exchange struct {
	req    *http.Request
	status int
	header http.Header
	body   []byte
}

// request sends method url with the default client. body, unless nil, is sent as given
// when it is []byte and JSON-encoded otherwise, as application/json; token, unless empty,
// is sent as a bearer token; header holds name, value pairs set after those (a pair with an
// empty value is not sent).
func request(t testing.TB, method, url, token string, body any, header ...string) exchange {
	t.Helper()
	var data []byte
	if body != nil {
		var ok bool
		if data, ok = body.([]byte); !ok {
			var err error
			if data, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchange{req: req, status: resp.StatusCode, header: resp.Header, body: out}
}

// request sends method path to the env's server (see request).
func (e *env) request(method, path, token string, body any, header ...string) exchange {
	e.t.Helper()
	return request(e.t, method, e.srv.URL+path, token, body, header...)
}

// post sends a JSON body with a bearer token; it returns the status, headers and body.
func (e *env) post(path, token string, body any, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	x := e.request(http.MethodPost, path, token, body, header...)
	return x.status, x.header, x.body
}

// answer posts body to /v1/answer with a bearer token and returns the answer and the
// response body.
func (e *env) answer(token string, body any) (api.AnswerResponse, []byte) {
	e.t.Helper()
	_, _, out := e.post("/v1/answer", token, body)
	return decodeJSON[api.AnswerResponse](e.t, out), out
}

// get sends GET path with a bearer token and returns the status and body.
func (e *env) get(path, token string, header ...string) (int, []byte) {
	e.t.Helper()
	x := e.request(http.MethodGet, path, token, nil, header...)
	return x.status, x.body
}

// del sends DELETE path with a bearer token and returns the status and body.
func (e *env) del(path, token string) (int, []byte) {
	e.t.Helper()
	x := e.request(http.MethodDelete, path, token, nil)
	return x.status, x.body
}

// preflight sends a browser's CORS preflight for a POST to path from origin (none when
// empty), with more header pairs, and returns the status and headers.
func (e *env) preflight(path, origin string, header ...string) (int, http.Header) {
	e.t.Helper()
	x := e.request(http.MethodOptions, path, "", nil, append([]string{"Origin", origin, "Access-Control-Request-Method", "POST"}, header...)...)
	return x.status, x.header
}

// decodeJSON decodes a response body as a T.
func decodeJSON[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

// events reads a Server-Sent Events stream with a standard client (go-sse).
func events(t *testing.T, body []byte) []sse.Event {
	t.Helper()
	var out []sse.Event
	for ev, err := range sse.Read(bytes.NewReader(body), nil) {
		if err != nil {
			t.Fatalf("read the event stream: %v\n%s", err, body)
		}
		out = append(out, ev)
	}
	return out
}

// openAPIRouter routes requests to the env's server by openapi.json.
func openAPIRouter(t *testing.T, e *env) routers.Router {
	t.Helper()
	doc := loadSpec(t)
	doc.Servers = openapi3.Servers{{URL: e.srv.URL}} // the test server's address
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return router
}

// checkOpenAPI validates a response against its route's description in openapi.json.
func checkOpenAPI(t *testing.T, router routers.Router, x exchange) error {
	t.Helper()
	route, params, err := router.FindRoute(x.req)
	if err != nil {
		t.Fatalf("%s %s: not in openapi.json: %v", x.req.Method, x.req.URL.Path, err)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: x.req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: x.status, Header: x.header, Body: io.NopCloser(bytes.NewReader(x.body)),
	}
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// ingestDemo ingests the demo corpus with these extra documents (demoCorpus) into db with
// the built-in embedder, which it returns with the run's summary. cfg gives the run's other
// settings (Source "demo" and the corpus root are set). A document that fails to ingest
// fails the test unless allowFailures.
func ingestDemo(t *testing.T, db *dbtest.DB, extra map[string]string, cfg ingest.Config, logger *slog.Logger, allowFailures bool) (*embed.Builtin, ingest.Summary) {
	t.Helper()
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Source, cfg.Roots = "demo", []string{demoCorpus(t, extra)}
	in, err := ingest.New(cfg, db.Pool, emb, logger)
	if err != nil {
		t.Fatal(err)
	}
	s, err := in.Run(context.Background())
	if err != nil || (s.Documents.Failed > 0 && !allowFailures) {
		t.Fatalf("ingest the demo corpus: %v %v", err, s.Failures)
	}
	return emb, s
}
