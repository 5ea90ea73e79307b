package api_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/api"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesTheRoutes: the document describes exactly the routes the server
// registers, and /openapi.json serves it.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	doc := loadSpec(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	h, err := api.New(api.Config{}, nil, nil, nil, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, r := range h.Routes() {
		if r.Method == echo.RouteNotFound || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		// echo's :param is OpenAPI's {param}, in any segment.
		segments := strings.Split(r.Path, "/")
		for i, s := range segments {
			if name, ok := strings.CutPrefix(s, ":"); ok {
				segments[i] = "{" + name + "}"
			}
		}
		registered = append(registered, r.Method+" "+strings.Join(segments, "/"))
	}
	slices.Sort(documented)
	slices.Sort(registered)
	if diff := cmp.Diff(documented, slices.Compact(registered)); diff != "" {
		t.Errorf("routes (-openapi.json +server):\n%s", diff)
	}
}

// TestResponsesMatchTheOpenAPI validates real responses of a running server against the
// document's schemas.
func TestResponsesMatchTheOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{urlPrefix: "https://intranet.example/docs/"})
	router := openAPIRouter(t, e)
	// A stored trace, for the admin's view of it (traces are written asynchronously).
	issuer := e.issuerKey("intranet-backend", []string{intranet})
	widget := e.widgetKey("intranet", []string{intranet}, []string{"public"})
	_, _, body := e.post("/v1/answer", e.keys["eng"], map[string]any{"question": "How many vacation days do employees get?"})
	traceID := decodeJSON[api.AnswerResponse](t, body).TraceID
	conversation := *decodeJSON[api.AnswerResponse](t, body).ConversationID
	_, _, body = e.post("/v1/answer", e.keys["eng"], map[string]any{"question": "How many vacation days do employees get?"})
	deleted := *decodeJSON[api.AnswerResponse](t, body).ConversationID
	var chunkID int64
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id
		WHERE d.uri = 'handbook/employee-handbook-2026.pdf' AND c.ordinal = 1`).Scan(&chunkID); err != nil {
		t.Fatal(err)
	}
	chunkPath := "/v1/chunks/" + strconv.FormatInt(chunkID, 10)
	for range 100 {
		if status, _ := e.get("/v1/traces/"+traceID, e.keys["admin"]); status == http.StatusOK {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tc := range []struct {
		method, path, token string
		body                any
		contentType         string // default application/json
	}{
		{http.MethodPost, "/v1/answer", e.keys["eng"], map[string]any{"question": "How many vacation days do employees get?", "max_sources": 3}, ""},
		{http.MethodPost, "/v1/answer", e.keys["eng"], map[string]any{"question": "What is the capital of Mongolia?"}, ""},
		{http.MethodPost, "/v1/answer", e.keys["eng"], map[string]any{"question": ""}, ""},
		{http.MethodPost, "/v1/answer", "", map[string]any{"question": "x"}, ""},
		{http.MethodPost, "/v1/search", e.keys["hr"], map[string]any{"query": "salary band", "limit": 3}, ""},
		{http.MethodGet, chunkPath, e.keys["eng"], nil, ""},
		{http.MethodGet, chunkPath + "?around=3", e.keys["hr"], nil, ""},
		{http.MethodGet, "/v1/chunks/999999999", e.keys["eng"], nil, ""},
		{http.MethodGet, chunkPath, "", nil, ""},
		{http.MethodGet, "/healthz", "", nil, ""},
		{http.MethodGet, "/readyz", "", nil, ""},
		{http.MethodGet, "/v1/traces/0123456789abcdef", e.keys["eng"], nil, ""},
		{http.MethodGet, "/v1/traces/0123456789abcdef", e.keys["admin"], nil, ""},
		{http.MethodGet, "/v1/traces/" + traceID, e.keys["admin"], nil, ""},
		{http.MethodPost, "/v1/answer", e.keys["eng"], map[string]any{"question": "And sick days?", "conversation_id": conversation}, ""},
		{http.MethodPost, "/v1/answer", e.keys["hr"], map[string]any{"question": "And sick days?", "conversation_id": conversation}, ""},
		{http.MethodGet, "/v1/conversations/" + conversation, e.keys["eng"], nil, ""},
		{http.MethodGet, "/v1/conversations/" + conversation, e.keys["hr"], nil, ""},
		{http.MethodDelete, "/v1/conversations/" + deleted, e.keys["eng"], nil, ""},
		{http.MethodDelete, "/v1/conversations/" + deleted, e.keys["eng"], nil, ""},
		{http.MethodDelete, "/v1/conversations/" + conversation, "", nil, ""},
		{http.MethodPost, "/v1/search", e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "\u212Aate"}), map[string]any{"query": "x"}, ""},
		{http.MethodPost, "/v1/search", e.keys["hr"], map[string]any{"query": "x"}, "application/jsonp"},
		{http.MethodPost, "/v1/search", e.keys["hr"], map[string]any{"query": "x\u0000"}, ""},
		{http.MethodPost, "/v1/widget/sessions", issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}}, ""},
		{http.MethodPost, "/v1/widget/sessions", issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"finance"}}, ""},
		{http.MethodPost, "/v1/widget/sessions", issuer, map[string]any{"user": "Ana@northwind.example"}, ""},
		{http.MethodPost, "/v1/widget/sessions", e.keys["eng"], map[string]any{"user": "ana@northwind.example"}, ""},
		{http.MethodPost, "/v1/answer", widget, map[string]any{"question": "x"}, ""}, // no Origin: 403
		{http.MethodPost, "/v1/search", widget, map[string]any{"query": "x"}, ""},    // 403
		{http.MethodPost, "/v1/chat/completions", e.keys["eng"], map[string]any{"model": "docent", "messages": []map[string]any{{"role": "user", "content": "How many vacation days do employees get?"}}}, ""},
		{http.MethodPost, "/v1/chat/completions", e.keys["eng"], map[string]any{"model": "docent", "store": true, "messages": []map[string]any{{"role": "user", "content": "What is the capital of Mongolia?"}}}, ""},
		{http.MethodPost, "/v1/chat/completions", e.keys["eng"], map[string]any{"model": "gpt-4o", "messages": []map[string]any{{"role": "user", "content": "x"}}}, ""},
		{http.MethodPost, "/v1/chat/completions", e.keys["eng"], map[string]any{"model": "docent", "messages": []map[string]any{{"role": "user", "content": []map[string]string{{"type": "image_url"}}}}}, ""},
		{http.MethodPost, "/v1/chat/completions", "", map[string]any{"model": "docent", "messages": []map[string]any{{"role": "user", "content": "x"}}}, ""},
		{http.MethodPost, "/v1/chat/completions", widget, map[string]any{"model": "docent", "messages": []map[string]any{{"role": "user", "content": "x"}}}, ""},
		{http.MethodGet, "/v1/models", e.keys["hr"], nil, ""},
		{http.MethodGet, "/v1/models", "", nil, ""},
		{http.MethodGet, "/v1/models/docent", e.keys["hr"], nil, ""},
		{http.MethodGet, "/v1/models/gpt-4o", e.keys["hr"], nil, ""},
	} {
		x := e.request(tc.method, tc.path, tc.token, tc.body, "Content-Type", tc.contentType)
		if err := checkOpenAPI(t, router, x); err != nil {
			t.Errorf("%s %s → %d does not match openapi.json: %v\n%s", tc.method, tc.path, x.status, err, x.body)
		}
	}
}
