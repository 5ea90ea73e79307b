package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/api"
	askpkg "github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

// conversation reads GET /v1/conversations/{id} as token, which must succeed.
func (e *env) conversation(id, token string) api.ConversationResponse {
	e.t.Helper()
	status, body := e.get("/v1/conversations/"+id, token)
	if status != http.StatusOK {
		e.t.Fatalf("GET conversation %s: %d %s", id, status, body)
	}
	var c api.ConversationResponse
	if err := json.Unmarshal(body, &c); err != nil {
		e.t.Fatalf("conversation: %v\n%s", err, body)
	}
	return c
}

// ask posts a question (in conversation id, when not empty) as token and returns the answer,
// which must succeed.
func (e *env) ask(token, question, conversation string) api.AnswerResponse {
	e.t.Helper()
	req := map[string]any{"question": question}
	if conversation != "" {
		req["conversation_id"] = conversation
	}
	status, _, body := e.post("/v1/answer", token, req)
	if status != http.StatusOK {
		e.t.Fatalf("ask %q in %q: %d %s", question, conversation, status, body)
	}
	return decodeJSON[api.AnswerResponse](e.t, body)
}

var conversationID = regexp.MustCompile(`^[0-9a-f]{32}$`)

const (
	failoverQuestion = "How do I fail over the production database?"
	// followUp only makes sense after failoverQuestion.
	followUp = "Who has to approve it?"
)

// TestConversationFollowUpRestoreDelete: an answer starts a conversation; a follow-up that
// only makes sense with the first question, asked in it (here as a stream), is answered from
// the stored history; GET restores both turns as the answers returned them; DELETE removes it.
func TestConversationFollowUpRestoreDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	eng := e.keys["eng"]
	first := e.ask(eng, failoverQuestion, "")
	if first.ConversationID == nil || !conversationID.MatchString(*first.ConversationID) {
		t.Fatalf("the first answer has conversation_id %v, want 32 hex digits", first.ConversationID)
	}
	id := *first.ConversationID
	if first.Refused || !strings.Contains(citedURIs(first), "database-failover.md") {
		t.Fatalf("first answer: refused %v, cites %s", first.Refused, citedURIs(first))
	}

	// Alone, the follow-up does not find the runbook: the conversation is what makes it work.
	alone := e.ask(eng, followUp, "")
	if strings.Contains(citedURIs(alone), "database-failover.md") {
		t.Fatalf("the follow-up alone already cites the runbook (%s): the test would prove nothing", citedURIs(alone))
	}
	if alone.ConversationID == nil || *alone.ConversationID == id {
		t.Errorf("a question without conversation_id did not start a new conversation: %v", alone.ConversationID)
	}

	status, _, body := e.post("/v1/answer", eng, map[string]any{"question": followUp, "conversation_id": id},
		"Accept", "text/event-stream")
	evs := events(t, body)
	if status != http.StatusOK || len(evs) == 0 || evs[len(evs)-1].Type != "answer" {
		t.Fatalf("follow-up stream: %d\n%s", status, body)
	}
	second := decodeJSON[api.AnswerResponse](t, []byte(evs[len(evs)-1].Data))
	if second.ConversationID == nil || *second.ConversationID != id {
		t.Errorf("the follow-up's answer event has conversation_id %v, want %s", second.ConversationID, id)
	}
	if second.Refused || !strings.Contains(citedURIs(second), "database-failover.md") {
		t.Errorf("the follow-up in the conversation: refused %v, cites %s", second.Refused, citedURIs(second))
	}

	// A refusal is a turn too.
	third := e.ask(eng, "What is the capital of Mongolia?", id)
	if !third.Refused || third.ConversationID == nil || *third.ConversationID != id {
		t.Fatalf("the third question: refused %v, conversation %v", third.Refused, third.ConversationID)
	}

	// Restored as the answers returned them.
	c := e.conversation(id, eng)
	if c.ID != id || len(c.Turns) != 3 {
		t.Fatalf("restored conversation %s with %d turns, want %s with 3", c.ID, len(c.Turns), id)
	}
	for i, want := range []api.AnswerResponse{first, second, third} {
		got := c.Turns[i]
		q := []string{failoverQuestion, followUp, "What is the capital of Mongolia?"}[i]
		if got.N != i+1 || got.Question != q || got.Answer == nil || *got.Answer != want.Answer ||
			got.AnswerID != want.TraceID || got.Refused != want.Refused || got.Redacted != nil ||
			!cmp.Equal(got.Reason, want.Reason) {
			t.Errorf("turn %d: %+v, want question %q, answer %q, answer id %s", i+1, got, q, want.Answer, want.TraceID)
		}
		if diff := cmp.Diff(want.Citations, got.Citations); diff != "" {
			t.Errorf("turn %d: citations (-answer +restored):\n%s", i+1, diff)
		}
	}

	// history and conversation_id together: refused, nothing added.
	status, _, body = e.post("/v1/answer", eng, map[string]any{"question": followUp, "conversation_id": id,
		"history": []map[string]string{{"role": "user", "content": failoverQuestion}}})
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"history"`) {
		t.Errorf("history with conversation_id: %d %s", status, body)
	}
	// With its own history, a caller keeps its conversation: none is stored.
	status, _, body = e.post("/v1/answer", eng, map[string]any{"question": followUp,
		"history": []map[string]string{{"role": "user", "content": failoverQuestion}}})
	if a := decodeJSON[api.AnswerResponse](t, body); status != http.StatusOK || a.ConversationID != nil {
		t.Errorf("with history: %d, conversation_id %v, want 200 and null", status, a.ConversationID)
	}
	if n := len(e.conversation(id, eng).Turns); n != 3 {
		t.Errorf("%d turns after the refused request, want 3", n)
	}

	if status, body := e.del("/v1/conversations/"+id, eng); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	if status, _ := e.get("/v1/conversations/"+id, eng); status != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d", status)
	}
	if status, _ := e.del("/v1/conversations/"+id, eng); status != http.StatusNotFound {
		t.Errorf("DELETE after DELETE: %d", status)
	}
	status, _, body = e.post("/v1/answer", eng, map[string]any{"question": followUp, "conversation_id": id})
	if status != http.StatusNotFound {
		t.Errorf("continuing a deleted conversation: %d %s", status, body)
	}
	var turns int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM conversation_turns WHERE conversation_id = $1`, id).Scan(&turns); err != nil || turns != 0 {
		t.Errorf("%d turns left in the database after DELETE (%v)", turns, err)
	}
}

func citedURIs(a api.AnswerResponse) string {
	var uris []string
	for _, c := range a.Citations {
		uris = append(uris, c.Document.URI)
	}
	return strings.Join(uris, ",")
}

// TestConversationsAreTheirOwnersOnly: another caller cannot read, continue or delete a
// conversation, whatever it shares with the owner (groups, principal set, subject): it gets
// the very 404 of an id that never existed, and the conversation is unchanged.
func TestConversationsAreTheirOwnersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{anonymous: true})
	ctx := context.Background()
	// A second key with exactly the eng key's tags: the same principal set, another key.
	twin, prefix, hash, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := index.CreateAPIKey(ctx, e.db.Pool, "eng-twin", prefix, hash,
		[]string{"group:engineering", "user:ana@northwind.example"}, index.RoleUser); err != nil {
		t.Fatal(err)
	}
	ana := e.jwt(jwt.SigningMethodHS256, nil) // sub ana, groups engineering
	byKey := *e.ask(e.keys["eng"], failoverQuestion, "").ConversationID
	byJWT := *e.ask(ana, failoverQuestion, "").ConversationID

	// The 404 of an id that never existed: what every stranger must get, byte for byte.
	_, neverBody := e.get("/v1/conversations/"+askpkg.NewConversationID(), e.keys["eng"])
	strangers := map[string]map[string]string{
		byKey: {
			"other key, other principals":     e.keys["hr"],
			"other key, same principal set":   twin,
			"JWT of the key's user and group": ana,
			"admin key":                       e.keys["admin"],
			"anonymous":                       "",
		},
		byJWT: {
			"same groups, other subject":         e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "carl@northwind.example"}),
			"same subject, a superset of groups": e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"groups": []string{"engineering", "hr"}}),
			"same subject, RS256 issuer":         e.jwt(jwt.SigningMethodRS256, jwt.MapClaims{"groups": []string{"engineering", "sales"}}),
			"the API key of the same user":       e.keys["eng"],
			"anonymous":                          "",
		},
	}
	owners := map[string]string{byKey: e.keys["eng"], byJWT: ana}
	for id, callers := range strangers {
		for name, token := range callers {
			status, body := e.get("/v1/conversations/"+id, token)
			if status != http.StatusNotFound || !bytes.Equal(body, neverBody) {
				t.Errorf("%s: GET another's conversation: %d %s, want 404 %s", name, status, body, neverBody)
			}
			status, body = e.del("/v1/conversations/"+id, token)
			if status != http.StatusNotFound || !bytes.Equal(body, neverBody) {
				t.Errorf("%s: DELETE another's conversation: %d %s", name, status, body)
			}
			for _, accept := range []string{"application/json", "text/event-stream"} {
				status, _, body = e.post("/v1/answer", token, map[string]any{"question": followUp, "conversation_id": id}, "Accept", accept)
				if status != http.StatusNotFound || !bytes.Equal(body, neverBody) {
					t.Errorf("%s: continue another's conversation (%s): %d %s", name, accept, status, body)
				}
			}
		}
		// Unchanged: one turn, still there.
		if c := e.conversation(id, owners[id]); len(c.Turns) != 1 {
			t.Errorf("the owner's conversation has %d turns after the strangers, want 1", len(c.Turns))
		}
	}
	// Anonymous callers cannot be told apart: they own no conversation.
	if a := e.ask("", "How many vacation days do employees get?", ""); a.ConversationID != nil {
		t.Errorf("an anonymous caller got conversation %s", *a.ConversationID)
	}
	// Ids that are not the server's are unknown, never an error that tells them apart.
	for _, id := range []string{"x", strings.ToUpper(byKey), byKey + "0", "..%2f..%2fetc", strings.Repeat("a", 5000)} {
		if status, body := e.get("/v1/conversations/"+id, e.keys["eng"]); status != http.StatusNotFound {
			t.Errorf("GET /v1/conversations/%.40s: %d %s", id, status, body)
		}
	}
}

// TestConversationRedactsRetaggedDocuments: a turn answered from a document that is re-tagged
// afterwards is restored without its answer and citations; the other turns are intact. (That
// its answer is no longer given to the model with a follow-up is ask's
// TestStoredHistoryLeavesOutRedactedAnswers.)
func TestConversationRedactsRetaggedDocuments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	eng := e.keys["eng"]
	vacation := e.ask(eng, "How many vacation days do employees get?", "")
	id := *vacation.ConversationID
	failover := e.ask(eng, failoverQuestion, id)
	if failover.Refused || !strings.Contains(citedURIs(failover), "database-failover.md") {
		t.Fatalf("failover answer %q cites %s", failover.Answer, citedURIs(failover))
	}
	c := e.conversation(id, eng)
	if len(c.Turns) != 2 || c.Turns[0].Redacted != nil || c.Turns[1].Redacted != nil {
		t.Fatalf("before the re-tag: %+v", c.Turns)
	}

	if _, err := e.db.Pool.Exec(context.Background(),
		`UPDATE documents SET acl = '{group:nobody}' WHERE uri LIKE '%database-failover%'`); err != nil {
		t.Fatal(err)
	}
	status, body := e.get("/v1/conversations/"+id, eng)
	if status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	for _, f := range []string{failover.Answer, "database-failover.md", "flock-pg-2", "runbook"} {
		if bytes.Contains(body, []byte(f)) {
			t.Errorf("the restored conversation shows %q after the document was re-tagged:\n%s", f, body)
		}
	}
	c = e.conversation(id, eng)
	if t1 := c.Turns[1]; t1.Redacted == nil || t1.Answer != nil || len(t1.Citations) != 0 || t1.Question != failoverQuestion {
		t.Errorf("the re-tagged turn: %+v, want its question only", t1)
	}
	if t0 := c.Turns[0]; t0.Redacted != nil || t0.Answer == nil || *t0.Answer != vacation.Answer ||
		!cmp.Equal(t0.Citations, vacation.Citations) {
		t.Errorf("the untouched turn: %+v", t0)
	}
	// Deleted, not only re-tagged: the same.
	if _, err := e.db.Pool.Exec(context.Background(), `DELETE FROM documents WHERE uri LIKE 'handbook/time-off%'`); err != nil {
		t.Fatal(err)
	}
	if t0 := e.conversation(id, eng).Turns[0]; t0.Redacted == nil || t0.Answer != nil {
		t.Errorf("a turn whose document was deleted: %+v", t0)
	}
}

// TestConversationLimits: a conversation holds at most askpkg.MaxTurns turns (then 409), and
// retention deletes the conversations idle for longer than it, turns included.
func TestConversationLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	ctx := context.Background()
	eng := e.keys["eng"]
	full := *e.ask(eng, failoverQuestion, "").ConversationID
	if _, err := e.db.Pool.Exec(ctx, `
		INSERT INTO conversation_turns (conversation_id, n, question, answer, answer_id, refused)
		SELECT $1, n, 'q' || n, 'a' || n, 'x', false FROM generate_series(2, $2) AS n`, full, askpkg.MaxTurns); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Pool.Exec(ctx, `UPDATE conversations SET turns = $2 WHERE id = $1`, full, askpkg.MaxTurns); err != nil {
		t.Fatal(err)
	}
	status, _, body := e.post("/v1/answer", eng, map[string]any{"question": followUp, "conversation_id": full})
	if status != http.StatusConflict || !strings.Contains(string(body), "conversation_full") {
		t.Errorf("a question beyond %d turns: %d %s, want 409 conversation_full", askpkg.MaxTurns, status, body)
	}
	if n := len(e.conversation(full, eng).Turns); n != askpkg.MaxTurns {
		t.Errorf("%d turns, want %d", n, askpkg.MaxTurns)
	}

	old := *e.ask(eng, followUp, "").ConversationID
	fresh := *e.ask(eng, "How many vacation days do employees get?", "").ConversationID
	if _, err := e.db.Pool.Exec(ctx, `UPDATE conversations SET updated_at = now() - interval '31 days' WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	n, err := askpkg.ExpireConversations(ctx, e.db.Pool, time.Now(), 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("expired %d conversations (%v), want 1", n, err)
	}
	if status, _ := e.get("/v1/conversations/"+old, eng); status != http.StatusNotFound {
		t.Errorf("an expired conversation: %d", status)
	}
	var turns int
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM conversation_turns WHERE conversation_id = $1`, old).Scan(&turns); err != nil || turns != 0 {
		t.Errorf("%d turns of the expired conversation left (%v)", turns, err)
	}
	for _, id := range []string{fresh, full} {
		e.conversation(id, eng)
	}
	// A retention of 0 keeps every conversation.
	if n, err := askpkg.ExpireConversations(ctx, e.db.Pool, time.Now().Add(1000*time.Hour), 0); n != 0 || err != nil {
		t.Errorf("retention 0 deleted %d (%v)", n, err)
	}
}
