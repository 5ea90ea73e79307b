package api_test

// What a widget caller owns (issue 11, "A caller can only ever read, continue or delete its
// own conversations and give feedback on its own answers"), attacked over HTTP: an end-user
// session owns its user's conversations and answers, not the other users' of the same issuer
// with the same groups; a publishable widget key owns its own, not another key's with the
// same principals; the passage view is permission checked for them like for anyone.

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/auth"
)

// widgetCall sends method path as token from origin (none when empty) with extra headers
// (name, value pairs) and returns the status, headers and body.
func (e *env) widgetCall(method, path, token, origin string, body any, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
		header = append(header, "Content-Type", "application/json")
	}
	header = append(header, "Authorization", "Bearer "+token)
	if origin != "" {
		header = append(header, "Origin", origin)
	}
	return e.send(nil, method, path, raw, header...)
}

// widgetAsk asks question as token from origin, in conversation (none when empty), and
// returns the answer, which must succeed.
func (e *env) widgetAsk(token, origin, question, conversation string) answerWithConversation {
	e.t.Helper()
	req := map[string]any{"question": question}
	if conversation != "" {
		req["conversation_id"] = conversation
	}
	status, _, body := e.widgetCall(http.MethodPost, "/v1/answer", token, origin, req)
	if status != http.StatusOK {
		e.t.Fatalf("ask %q: %d %s", question, status, body)
	}
	var a answerWithConversation
	if err := json.Unmarshal(body, &a); err != nil || a.ID == "" || a.ConversationID == "" {
		e.t.Fatalf("ask %q: %v %s", question, err, body)
	}
	return a
}

type answerWithConversation struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Refused        bool   `json:"refused"`
}

func TestWidgetSessionsOwnTheirUsersConversationsAndAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	issuer := e.issuerKey("intranet-backend", []string{intranet})
	other := e.issuerKey("other-backend", []string{intranet})
	ana := e.session(issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}}).Token
	anaAgain := e.session(issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}}).Token
	// The same principal set as ana's session but another user, and ana from another issuer.
	bob := e.session(issuer, map[string]any{"user": "bob@northwind.example", "groups": []string{"engineering"}}).Token
	anaElsewhere := e.session(other, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}}).Token
	anaWithHR := e.session(issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering", "hr"}}).Token

	first := e.widgetAsk(ana, intranet, failoverQuestion, "")
	waitTrace(e, first.ID)
	// A follow-up in the stored conversation, from a fresh session of the same user: hers.
	second := e.widgetAsk(anaAgain, intranet, followUp, first.ConversationID)
	if second.ConversationID != first.ConversationID {
		t.Fatalf("the follow-up went to conversation %s, not %s", second.ConversationID, first.ConversationID)
	}
	waitTrace(e, second.ID)

	status, header, body := e.widgetCall(http.MethodGet, "/v1/conversations/"+first.ConversationID, anaAgain, intranet, nil)
	if status != http.StatusOK || header.Get("Access-Control-Allow-Origin") != intranet ||
		!strings.Contains(string(body), first.ID) || !strings.Contains(string(body), second.ID) {
		t.Fatalf("ana restoring her conversation: %d (ACAO %q) %s", status, header.Get("Access-Control-Allow-Origin"), body)
	}

	_, _, unknownConv := e.widgetCall(http.MethodGet, "/v1/conversations/ffffffffffffffffffffffffffffffff", bob, intranet, nil)
	_, _, unknownAnswer := e.widgetCall(http.MethodPost, "/v1/answers/ffffffffffffffffffffffffffffffff/feedback", bob, intranet, map[string]any{"rating": "down"})
	for name, token := range map[string]string{
		"another user with the same groups": bob,
		"the same user from another issuer": anaElsewhere,
		"the same user with other groups":   anaWithHR,
	} {
		path := "/v1/conversations/" + first.ConversationID
		if status, _, body := e.widgetCall(http.MethodGet, path, token, intranet, nil); status != http.StatusNotFound || string(body) != string(unknownConv) {
			t.Errorf("%s reading: %d %s", name, status, body)
		}
		cont := map[string]any{"question": followUp, "conversation_id": first.ConversationID}
		if status, _, body := e.widgetCall(http.MethodPost, "/v1/answer", token, intranet, cont); status != http.StatusNotFound {
			t.Errorf("%s continuing: %d %s", name, status, body)
		}
		if status, _, body := e.widgetCall(http.MethodDelete, path, token, intranet, nil); status != http.StatusNotFound {
			t.Errorf("%s deleting: %d %s", name, status, body)
		}
		fb := map[string]any{"rating": "down", "comment": "hostile"}
		if status, _, body := e.widgetCall(http.MethodPost, "/v1/answers/"+first.ID+"/feedback", token, intranet, fb); status != http.StatusNotFound || string(body) != string(unknownAnswer) {
			t.Errorf("%s rating ana's answer: %d %s", name, status, body)
		}
	}
	if got := storedFeedback(t, e); len(got) != 0 {
		t.Fatalf("ratings stored by other users: %+v", got)
	}
	// Replayed from another origin, ana's own token reaches none of it.
	for _, origin := range []string{evil, ""} {
		if status, header, body := e.widgetCall(http.MethodGet, "/v1/conversations/"+first.ConversationID, ana, origin, nil); status != http.StatusForbidden ||
			header.Get("Access-Control-Allow-Origin") != "" || strings.Contains(string(body), first.ID) {
			t.Errorf("ana's token from %q: %d %s", origin, status, body)
		}
	}

	// The asker may rate it (from a fresh session) and delete her conversation.
	if status, _, body := e.widgetCall(http.MethodPost, "/v1/answers/"+first.ID+"/feedback", anaAgain, intranet,
		map[string]any{"rating": "down", "reason": "incomplete"}); status != http.StatusOK {
		t.Fatalf("ana rating her answer: %d %s", status, body)
	}
	if got := storedFeedback(t, e); len(got) != 1 || got[0].Rating != "down" {
		t.Fatalf("stored: %+v", got)
	}
	if status, _, body := e.widgetCall(http.MethodDelete, "/v1/conversations/"+first.ConversationID, ana, intranet, nil); status != http.StatusNoContent {
		t.Fatalf("ana deleting: %d %s", status, body)
	}
	if status, _, _ := e.widgetCall(http.MethodGet, "/v1/conversations/"+first.ConversationID, ana, intranet, nil); status != http.StatusNotFound {
		t.Errorf("a deleted conversation: %d", status)
	}
}

func TestWidgetKeysOwnTheirConversations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	key := e.widgetKey("help", []string{intranet}, []string{"public", "group:engineering"})
	twin := e.widgetKey("help-twin", []string{intranet}, []string{"public", "group:engineering"})
	a := e.widgetAsk(key, intranet, failoverQuestion, "")
	waitTrace(e, a.ID)
	if status, _, body := e.widgetCall(http.MethodGet, "/v1/conversations/"+a.ConversationID, key, intranet, nil); status != http.StatusOK || !strings.Contains(string(body), a.ID) {
		t.Fatalf("the key restoring its conversation: %d %s", status, body)
	}
	if status, _, body := e.widgetCall(http.MethodGet, "/v1/conversations/"+a.ConversationID, twin, intranet, nil); status != http.StatusNotFound {
		t.Errorf("another widget key with the same principals: %d %s", status, body)
	}
	if status, _, body := e.widgetCall(http.MethodPost, "/v1/answers/"+a.ID+"/feedback", twin, intranet, map[string]any{"rating": "up"}); status != http.StatusNotFound {
		t.Errorf("another widget key rating: %d %s", status, body)
	}
	if status, _, body := e.widgetCall(http.MethodPost, "/v1/answers/"+a.ID+"/feedback", key, intranet, map[string]any{"rating": "up"}); status != http.StatusOK {
		t.Errorf("the key rating its answer: %d %s", status, body)
	}
	// A secret API key with the same principals is another caller too.
	eng := addKey(t, e, "eng-like", "group:engineering")
	if status, body := e.get("/v1/conversations/"+a.ConversationID, eng); status != http.StatusNotFound {
		t.Errorf("an API key with the same principals: %d %s", status, body)
	}
}

// TestWidgetPassagesArePermissionChecked: the passage view, open to widget callers, shows a
// chunk only to those who may read it.
func TestWidgetPassagesArePermissionChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	issuer := e.issuerKey("intranet-backend", []string{intranet})
	erin := e.session(issuer, map[string]any{"user": "erin@northwind.example", "groups": []string{"engineering"}}).Token
	harper := e.session(issuer, map[string]any{"user": "harper@northwind.example", "groups": []string{"hr"}}).Token
	public := e.widgetKey("help", []string{intranet}, []string{"public"})
	salary := strconv.FormatInt(e.chunkID("hr/salary-bands.md", 0), 10)
	_, _, unknown := e.widgetCall(http.MethodGet, "/v1/chunks/999999999", harper, intranet, nil)
	if status, _, body := e.widgetCall(http.MethodGet, "/v1/chunks/"+salary+"?around=1", harper, intranet, nil); status != http.StatusOK || !strings.Contains(string(body), "salary-bands.md") {
		t.Fatalf("harper opening a salary passage: %d %s", status, body)
	}
	for name, token := range map[string]string{"erin (engineering)": erin, "a public widget key": public} {
		status, _, body := e.widgetCall(http.MethodGet, "/v1/chunks/"+salary+"?around=1", token, intranet, nil)
		if status != http.StatusNotFound || string(body) != string(unknown) {
			t.Errorf("%s opening a salary passage: %d %s", name, status, body)
		}
	}
}

// TestWidgetSameOriginRequests: browsers send no Origin on a same-origin GET; such a request
// is taken as coming from the server's own origin only when the browser says it is
// same-origin (Sec-Fetch-Site, which no page can set), and only if that origin is the key's.
func TestWidgetSameOriginRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	self := e.srv.URL // http://127.0.0.1:port, the origin a page served by Docent itself has
	key := e.widgetKey("demo", []string{self}, []string{"public"})
	elsewhere := e.widgetKey("intranet", []string{intranet}, []string{"public"})
	a := e.widgetAsk(key, self, "How many vacation days do I get?", "")
	path := "/v1/conversations/" + a.ConversationID
	for _, tc := range []struct {
		name   string
		token  string
		header []string
		want   int
	}{
		{"same-origin, the key's origin", key, []string{"Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"no Sec-Fetch-Site", key, nil, http.StatusForbidden},
		{"same-site (a sibling origin)", key, []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"cross-site", key, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same-origin, not the key's origin", elsewhere, []string{"Sec-Fetch-Site", "same-origin"}, http.StatusForbidden},
	} {
		status, _, body := e.widgetCall(http.MethodGet, path, tc.token, "", nil, tc.header...)
		if status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.want)
		}
	}
}

// TestWidgetRefusalsAreReadable: a 401 on a widget route (an expired session) carries CORS
// headers for an origin that a live key lists, so that the widget can read why and fetch a new
// session; from any other origin, or on another route, it carries none.
func TestWidgetRefusalsAreReadable(t *testing.T) {
	t.Parallel()
	var clk clock
	e := newEnv(t, options{now: clk.now})
	issuer := e.issuerKey("intranet-backend", []string{intranet})
	short := e.session(issuer, map[string]any{"user": "ana@northwind.example", "groups": []string{"engineering"}, "ttl_seconds": 60}).Token
	clk.advance(2 * time.Minute)
	ask := map[string]any{"question": failoverQuestion}
	for _, tc := range []struct {
		name, method, path, token, origin string
		body                              any
		acao                              string
	}{
		{"expired session, its origin", http.MethodPost, "/v1/answer", short, intranet, ask, intranet},
		{"expired session restoring, its origin", http.MethodGet, "/v1/conversations/ffffffffffffffffffffffffffffffff", short, intranet, nil, intranet},
		{"garbage token, a listed origin", http.MethodPost, "/v1/answer", auth.SessionPrefix + "x", intranet, ask, intranet},
		{"expired session, another origin", http.MethodPost, "/v1/answer", short, evil, ask, ""},
		{"expired session, not a widget route", http.MethodPost, "/v1/search", short, intranet, map[string]any{"query": "failover"}, ""},
	} {
		status, header, body := e.widgetCall(tc.method, tc.path, tc.token, tc.origin, tc.body)
		if status != http.StatusUnauthorized || header.Get("Access-Control-Allow-Origin") != tc.acao {
			t.Errorf("%s: %d, ACAO %q, want 401 and %q: %s", tc.name, status, header.Get("Access-Control-Allow-Origin"), tc.acao, body)
		}
		if l := leaks(body, failoverFacts); len(l) > 0 {
			t.Errorf("%s leaks %v", tc.name, l)
		}
	}
}
