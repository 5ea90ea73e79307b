package api_test

// Feedback on answers (issue 11): stored and replaced, validated, counted, and refused with
// the same 404 to every caller but the one who got the answer, as a hostile caller holding
// someone else's answer id would try it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

// answerID asks question with token and returns the answer's id once its trace is stored.
func answerID(e *env, token, question string) string {
	e.t.Helper()
	status, _, body := e.post("/v1/answer", token, map[string]any{"question": question})
	if status != http.StatusOK {
		e.t.Fatalf("asking %q: status %d: %s", question, status, body)
	}
	var a struct {
		ID      string `json:"id"`
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.ID == "" || a.ID != a.TraceID {
		e.t.Fatalf("asking %q: id %q, trace id %q: %v", question, a.ID, a.TraceID, err)
	}
	waitTrace(e, a.ID)
	return a.ID
}

// waitTrace waits until the trace id is stored (traces are written asynchronously).
func waitTrace(e *env, id string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := index.GetTrace(context.Background(), e.db.Pool, id, nil)
		if err == nil {
			return
		}
		if !errors.Is(err, index.ErrNotFound) || time.Now().After(deadline) {
			e.t.Fatalf("trace %s: %v", id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rate posts a rating of the answer id as token; it returns the status and body.
func rate(e *env, token, id string, body any) (int, []byte) {
	e.t.Helper()
	status, _, b := e.post("/v1/answers/"+id+"/feedback", token, body)
	return status, b
}

// storedFeedback returns every stored rating.
func storedFeedback(t *testing.T, e *env) []index.FeedbackRecord {
	t.Helper()
	var out []index.FeedbackRecord
	err := index.EachFeedback(context.Background(), e.db.Pool, index.FeedbackFilter{}, func(r index.FeedbackRecord) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// addKey creates an API key with tags and returns it.
func addKey(t *testing.T, e *env, name string, tags ...string) string {
	t.Helper()
	key, prefix, hash, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := index.CreateAPIKey(context.Background(), e.db.Pool, name, prefix, hash, tags, index.RoleUser); err != nil {
		t.Fatal(err)
	}
	return key
}

func feedbackCount(t *testing.T, e *env, rating string) string {
	t.Helper()
	_, body := e.get("/metrics", "")
	prefix := `docent_feedback_total{rating="` + rating + `"} `
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return "absent"
}

func TestFeedbackIsStoredAndReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	id := answerID(e, e.keys["eng"], failoverQuestion)

	status, body := rate(e, e.keys["eng"], id, map[string]any{"rating": "up"})
	if status != http.StatusOK || !strings.Contains(string(body), `"replaced":false`) {
		t.Fatalf("first rating: %d %s", status, body)
	}
	if got := feedbackCount(t, e, "up"); got != "1" {
		t.Errorf("docent_feedback_total{rating=up} = %s after one rating, want 1", got)
	}
	status, body = rate(e, e.keys["eng"], id, map[string]any{"rating": "down", "reason": "outdated",
		"comment": "The runbook moved to flock-pg-3.\nSee CHG-18."})
	if status != http.StatusOK || !strings.Contains(string(body), `"replaced":true`) {
		t.Fatalf("second rating: %d %s", status, body)
	}
	got := storedFeedback(t, e)
	if len(got) != 1 {
		t.Fatalf("%d ratings stored after a rating and its replacement, want 1: %+v", len(got), got)
	}
	r := got[0]
	if r.TraceID != id || r.Rating != "down" || r.Reason != "outdated" || r.Comment != "The runbook moved to flock-pg-3.\nSee CHG-18." ||
		r.Question != failoverQuestion {
		t.Errorf("stored %+v", r)
	}
	if len(r.CitedURIs) == 0 || !strings.HasSuffix(r.CitedURIs[0], "database-failover.md") {
		t.Errorf("cited documents %q, want the failover runbook first", r.CitedURIs)
	}
	if up, down := feedbackCount(t, e, "up"), feedbackCount(t, e, "down"); up != "1" || down != "1" {
		t.Errorf("counters up=%s down=%s, want 1 and 1", up, down)
	}
	// A rating without reason or comment clears them.
	if status, body := rate(e, e.keys["eng"], id, map[string]any{"rating": "up"}); status != http.StatusOK {
		t.Fatalf("third rating: %d %s", status, body)
	}
	if r := storedFeedback(t, e)[0]; r.Rating != "up" || r.Reason != "" || r.Comment != "" {
		t.Errorf("after a plain rating: %+v", r)
	}
}

func TestFeedbackValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	id := answerID(e, e.keys["eng"], failoverQuestion)
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"no rating", map[string]any{}, "rating"},
		{"unknown rating", map[string]any{"rating": "meh"}, "rating"},
		{"rating of another type", map[string]any{"rating": 1}, "rating"},
		{"unknown reason", map[string]any{"rating": "down", "reason": "rude"}, "reason"},
		{"comment too long", map[string]any{"rating": "down", "comment": strings.Repeat("é", index.MaxFeedbackComment+1)}, "comment"},
		{"control character", map[string]any{"rating": "down", "comment": "a\x00b"}, "comment"},
		{"unknown field", map[string]any{"rating": "down", "user_id": "someone-else"}, "body"},
		{"not JSON", []byte(`{"rating":`), "body"},
	} {
		status, body := rate(e, e.keys["eng"], id, tc.body)
		if status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, status, body, tc.field)
		}
	}
	// At the limit is fine.
	if status, body := rate(e, e.keys["eng"], id, map[string]any{"rating": "down",
		"comment": strings.Repeat("é", index.MaxFeedbackComment)}); status != http.StatusOK {
		t.Errorf("a comment of %d characters: %d %s", index.MaxFeedbackComment, status, body)
	}
	if got := len(storedFeedback(t, e)); got != 1 {
		t.Errorf("%d ratings stored, want the one valid one", got)
	}
}

func TestFeedbackOnlyFromTheCallerWhoGotTheAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	// A second key with exactly eng's principals: same principal hash, another caller.
	twin := addKey(t, e, "eng-twin", "group:engineering", "user:ana@northwind.example")
	anaJWT := e.jwt(jwt.SigningMethodHS256, nil) // the same principal set as eng's key
	keyAnswer := answerID(e, e.keys["eng"], failoverQuestion)
	jwtAnswer := answerID(e, anaJWT, failoverQuestion+" Step by step.")
	search := func() string {
		status, h, body := e.post("/v1/search", e.keys["eng"], map[string]any{"query": "failover"})
		if status != http.StatusOK {
			t.Fatalf("search: %d %s", status, body)
		}
		id := h.Get("X-Trace-Id")
		waitTrace(e, id)
		return id
	}()

	_, unknown := rate(e, e.keys["eng"], "0123456789abcdef0123456789abcdef", map[string]any{"rating": "down"})
	for _, tc := range []struct {
		name, token, id string
	}{
		{"another key with the same principals", twin, keyAnswer},
		{"a JWT with the same principals", anaJWT, keyAnswer},
		{"another group's key", e.keys["hr"], keyAnswer},
		{"an admin", e.keys["admin"], keyAnswer},
		{"a key with the same principals as the JWT", e.keys["eng"], jwtAnswer},
		{"the same subject with other groups", e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"groups": []string{"engineering", "hr"}}), jwtAnswer},
		{"another subject", e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "erin@northwind.example"}), jwtAnswer},
		{"a search's trace id", e.keys["eng"], search},
		{"an unknown id", e.keys["eng"], "ffffffffffffffffffffffffffffffff"},
		{"an id too long to be one", e.keys["eng"], strings.Repeat("a", index.MaxTraceIDLen+1)},
	} {
		status, body := rate(e, tc.token, tc.id, map[string]any{"rating": "down", "comment": "hostile"})
		if status != http.StatusNotFound {
			t.Errorf("%s: %d %s, want 404", tc.name, status, body)
			continue
		}
		var b map[string]map[string]any
		if err := json.Unmarshal(body, &b); err != nil || !bytes.Equal(body, unknown) {
			t.Errorf("%s: body %s differs from an unknown id's %s: it tells them apart", tc.name, body, unknown)
		}
	}
	if got := storedFeedback(t, e); len(got) != 0 {
		t.Fatalf("ratings stored by other callers: %+v", got)
	}
	if got := feedbackCount(t, e, "down"); got != "absent" && got != "0" {
		t.Errorf("refused ratings were counted: %s", got)
	}
	// The askers themselves may, a fresh token for the same subject and groups included.
	for _, tc := range []struct{ token, id string }{
		{e.keys["eng"], keyAnswer}, {e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(2 * time.Hour).Unix()}), jwtAnswer},
	} {
		if status, body := rate(e, tc.token, tc.id, map[string]any{"rating": "down"}); status != http.StatusOK {
			t.Errorf("the asker rating %s: %d %s", tc.id, status, body)
		}
	}
	if got := len(storedFeedback(t, e)); got != 2 {
		t.Errorf("%d ratings stored, want the askers' 2", got)
	}
}

func TestAnonymousCallersCannotGiveFeedback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{anonymous: true})
	id := answerID(e, "", "How many vacation days do employees get?")
	status, body := rate(e, "", id, map[string]any{"rating": "down"})
	if status != http.StatusForbidden {
		t.Errorf("anonymous rating: %d %s, want 403", status, body)
	}
	if got := storedFeedback(t, e); len(got) != 0 {
		t.Errorf("stored %+v", got)
	}
	// Nor may anyone else rate an anonymous answer: it has no owner.
	if status, body := rate(e, e.keys["eng"], id, map[string]any{"rating": "down"}); status != http.StatusNotFound {
		t.Errorf("a key rating an anonymous answer: %d %s, want 404", status, body)
	}
}

func TestFeedbackResponsesMatchTheOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	router := openAPIRouter(t, e)
	id := answerID(e, e.keys["eng"], failoverQuestion)
	for _, tc := range []struct{ key, id, body string }{
		{"eng", id, `{"rating":"down","reason":"wrong","comment":"no"}`},
		{"eng", id, `{"rating":"up"}`},
		{"eng", id, `{"rating":"sideways"}`},
		{"hr", id, `{"rating":"up"}`},
		{"eng", "nope", `{"rating":"up"}`},
	} {
		x := e.request(http.MethodPost, "/v1/answers/"+tc.id+"/feedback", e.keys[tc.key], []byte(tc.body))
		if err := checkOpenAPI(t, router, x); err != nil {
			t.Errorf("%s → %d does not match openapi.json: %v\n%s", tc.body, x.status, err, x.body)
		}
	}
}
