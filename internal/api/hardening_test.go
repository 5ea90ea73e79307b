package api_test

// Issue 9's server findings, attacked over real HTTP as a hostile client would: forged
// identities, ambiguous tokens, spoofed addresses, floods of bad credentials, strings that
// PostgreSQL refuses, sloppy media types, and the database going away mid-request.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/auth"
)

// errBody is the JSON of an error response.
type errBody struct {
	Error struct {
		Code, Message, Field, Reason string
	}
}

// send makes a request exactly as given: no header is added. header holds name, value pairs.
func (e *env) send(client *http.Client, method, path string, body []byte, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// from returns an HTTP client whose connections come from the loopback address ip
// (127.0.0.2, ...): another client address, without any header.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

// rawJWT signs header and payload, given as JSON text, with the server's HS256 secret: a
// token whose JSON is exactly what a buggy or hostile identity provider would write.
func (e *env) rawJWT(header, payload string) string {
	e.t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, e.secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// claimsJSON is a valid payload for this server with sub and groups as given (JSON text).
func claimsJSON(sub, groups string) string {
	return fmt.Sprintf(`{"iss":"https://idp.example","aud":"docent","exp":%d,"sub":%s,"groups":%s}`,
		time.Now().Add(time.Hour).Unix(), sub, groups)
}

const hs256Header = `{"alg":"HS256","typ":"JWT"}`

// TestIdentitiesCannotBeForged: an identity is lower-cased in ASCII only; a value that
// Unicode case mapping, folding or normalisation would turn into another identity is refused,
// never folded onto someone else's.
func TestIdentitiesCannotBeForged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{adminGroup: "k8s-admins", extraDocuments: map[string]string{
		"private/kate-plans.md":     "# Kate's plans\n\nKate's launch code for project Aurora is AURORA-7731.\n",
		"private/kate-plans.md.acl": "user:kate\n",
		"private/sid-notes.md":      "# Sid's notes\n\nSid's locker combination is LOCKER-4482.\n",
		"private/sid-notes.md.acl":  "user:sid\n",
		"private/jose-notes.md":     "# José's notes\n\nJosé's badge number is BADGE-5519.\n",
		"private/jose-notes.md.acl": "user:jos\u00e9\n", // é precomposed (NFC)
	}})
	questions := map[string]string{
		"AURORA-7731": "What is Kate's launch code for project Aurora?",
		"LOCKER-4482": "What is Sid's locker combination?",
		"BADGE-5519":  "What is José's badge number?",
	}
	ask := func(token, secret string) (int, []byte) {
		status, _, body := e.post("/v1/answer", token, map[string]any{"question": questions[secret]})
		return status, body
	}

	// The owners, and ASCII case variants of their ids, read their documents.
	for sub, secret := range map[string]string{"kate": "AURORA-7731", "KATE": "AURORA-7731", "Kate": "AURORA-7731",
		"sid": "LOCKER-4482", "SID": "LOCKER-4482", "jos\u00e9": "BADGE-5519", "JOS\u00e9": "BADGE-5519"} {
		status, body := ask(e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub}), secret)
		if status != http.StatusOK || !bytes.Contains(body, []byte(secret)) {
			t.Errorf("sub %q: %d, want its own document (%s): %s", sub, status, secret, body)
		}
	}

	// Forged: each would become (or look like) another user under Unicode rules.
	for sub, secret := range map[string]string{
		"\u212Aate":  "AURORA-7731", // KELVIN SIGN: lower-cases to k
		"\u212AATE":  "AURORA-7731",
		"S\u0130D":   "LOCKER-4482", // LATIN CAPITAL I WITH DOT ABOVE: lower-cases to i
		"\u017Fid":   "LOCKER-4482", // LATIN SMALL LONG S: upper-cases to S
		"s\u0131d":   "LOCKER-4482", // LATIN SMALL DOTLESS I: upper-cases to I
		"\uff4bate":  "AURORA-7731", // FULLWIDTH k: NFKC makes it k
		"kate\u200b": "AURORA-7731", // a zero-width space
		"JOS\u00c9":  "BADGE-5519",  // a non-ASCII capital: refused, not folded
		"jose\u0301": "BADGE-5519",  // é decomposed (NFD)
	} {
		status, body := ask(e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub}), secret)
		if bytes.Contains(body, []byte(secret)) {
			t.Errorf("sub %+q read %s", sub, secret)
		}
		if eb := decodeJSON[errBody](t, body); status != http.StatusUnauthorized || eb.Error.Reason != auth.ReasonNonCanonical {
			t.Errorf("sub %+q: %d %s, want 401 with reason %s", sub, status, body, auth.ReasonNonCanonical)
		}
	}

	// Not valid UTF-8: JSON decoders replace the byte with U+FFFD, so that two different
	// values would become one.
	bad := e.rawJWT(hs256Header, claimsJSON("\"kat\xffe\"", `["engineering"]`))
	if status, _, body := e.post("/v1/answer", bad, map[string]any{"question": questions["AURORA-7731"]}); status != http.StatusUnauthorized {
		t.Errorf("sub with invalid UTF-8: %d %s", status, body)
	}

	// Groups: the admin group is k8s-admins.
	traceOf := func(groups ...any) int {
		status, _ := e.get("/v1/traces/0123456789abcdef0123", e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"groups": groups}))
		return status
	}
	if status := traceOf("K8S-ADMINS"); status != http.StatusNotFound {
		t.Errorf("the admin group in ASCII capitals: %d, want an admin's 404 for an unknown trace", status)
	}
	for _, g := range []string{"\u212A8S-ADMINS", "\u212A8s-admins", "k8s-admin\u017F", "k8s-adm\u0130ns"} {
		if status := traceOf("engineering", g); status != http.StatusUnauthorized {
			t.Errorf("group %+q: %d, want 401", g, status)
		}
	}
}

// TestDuplicateClaimsAreRefused: a JSON object with a key twice means different things to
// different parsers (the first wins, the last wins, or an error): a token with one is
// refused, whatever the level or spelling of the key.
func TestDuplicateClaimsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	q := map[string]any{"question": "How many vacation days do employees get?"}
	exp := time.Now().Add(time.Hour).Unix()
	base := fmt.Sprintf(`"iss":"https://idp.example","aud":"docent","exp":%d`, exp)
	valid := e.rawJWT(hs256Header, `{`+base+`,"sub":"ana@northwind.example","groups":["engineering"]}`)
	if status, _, body := e.post("/v1/answer", valid, q); status != http.StatusOK {
		t.Fatalf("a hand-made valid token: %d %s", status, body)
	}
	for name, tok := range map[string]string{
		"sub twice":              e.rawJWT(hs256Header, `{`+base+`,"sub":"eve","sub":"ana@northwind.example"}`),
		"groups twice":           e.rawJWT(hs256Header, `{`+base+`,"sub":"ana@northwind.example","groups":["engineering"],"groups":["hr"]}`),
		"escaped duplicate":      e.rawJWT(hs256Header, `{`+base+`,"sub":"eve","s\u0075b":"ana@northwind.example"}`),
		"exp twice":              e.rawJWT(hs256Header, `{`+base+`,"sub":"ana@northwind.example","exp":1}`),
		"nested duplicate":       e.rawJWT(hs256Header, `{`+base+`,"sub":"ana@northwind.example","ext":{"a":1,"a":2}}`),
		"in an array":            e.rawJWT(hs256Header, `{`+base+`,"sub":"ana@northwind.example","ext":[{"a":1},{"b":1,"b":2}]}`),
		"header alg twice":       e.rawJWT(`{"alg":"none","alg":"HS256","typ":"JWT"}`, `{`+base+`,"sub":"ana@northwind.example"}`),
		"header typ twice":       e.rawJWT(`{"alg":"HS256","typ":"JWT","typ":"JWT"}`, `{`+base+`,"sub":"ana@northwind.example"}`),
		"same claim, same value": e.rawJWT(hs256Header, `{`+base+`,"sub":"ana@northwind.example","groups":["engineering"],"groups":["engineering"]}`),
	} {
		status, _, body := e.post("/v1/answer", tok, q)
		if eb := decodeJSON[errBody](t, body); status != http.StatusUnauthorized || eb.Error.Code != "unauthorized" {
			t.Errorf("%s: %d %s, want 401", name, status, body)
		}
	}
}

// TestClientAddressHeadersAreNotTrusted: without trusted proxies the TCP peer is the client,
// whatever X-Forwarded-For and X-Real-IP say.
func TestClientAddressHeadersAreNotTrusted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{anonymous: true, rateLimit: 0.001, rateBurst: 20})
	body := []byte(`{"query":"vacation"}`)
	allowed := 0
	for i := range 60 {
		status, _, _ := e.send(nil, http.MethodPost, "/v1/search", body, "Content-Type", "application/json",
			"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i), "X-Real-IP", fmt.Sprintf("198.51.100.%d", i))
		if status == http.StatusOK {
			allowed++
		}
	}
	if allowed != 20 {
		t.Errorf("%d of 60 requests with varying forwarding headers allowed, want the burst of 20", allowed)
	}
}

// TestTrustedProxies: behind a trusted proxy, the client is the rightmost address of
// X-Forwarded-For that is not a trusted proxy; addresses a client prepends do not count.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{anonymous: true, rateLimit: 0.001, rateBurst: 5, trustedProxies: []string{"127.0.0.1/32", "10.0.0.0/8"}})
	body := []byte(`{"query":"vacation"}`)
	count := func(xff func(i int) string, n int) int {
		allowed := 0
		for i := range n {
			status, _, _ := e.send(nil, http.MethodPost, "/v1/search", body, "Content-Type", "application/json",
				"X-Forwarded-For", xff(i), "X-Real-IP", fmt.Sprintf("198.51.100.%d", i))
			if status == http.StatusOK {
				allowed++
			}
		}
		return allowed
	}
	// One client, spoofing addresses to the left of what the proxies appended.
	if n := count(func(i int) string { return fmt.Sprintf("192.0.2.%d, 203.0.113.9, 10.1.2.3", i) }, 15); n != 5 {
		t.Errorf("one client behind two proxies: %d of 15 allowed, want 5", n)
	}
	// Another client through the same proxy has its own budget.
	if n := count(func(int) string { return "203.0.113.10" }, 15); n != 5 {
		t.Errorf("a second client: %d of 15 allowed, want 5", n)
	}
	// IPv6 clients are limited per /64: rotating the interface id gains nothing.
	if n := count(func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) }, 15); n != 5 {
		t.Errorf("one IPv6 /64: %d of 15 allowed, want 5", n)
	}
}

// TestFailedAuthenticationIsLimitedPerAddress: bad credentials cost a bounded number of
// database lookups per client address, and an attacker cannot lock a legitimate user out.
func TestFailedAuthenticationIsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	attacker := from("127.0.0.2")
	body := []byte(`{"query":"vacation"}`)
	var unauthorized, limited int
	for i := range 300 {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		token := auth.KeyPrefix + base64.RawURLEncoding.EncodeToString(key)
		if i%3 == 2 {
			token = "garbage." + token // not a key: a malformed JWT
		}
		status, header, _ := e.send(attacker, http.MethodPost, "/v1/search", body, "Content-Type", "application/json",
			"Authorization", "Bearer "+token)
		switch status {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			limited++
			if header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("bad key: status %d", status)
		}
	}
	t.Logf("300 bad credentials from one address: %d database lookups, %d refused with 401, %d with 429",
		e.lookups.Load(), unauthorized, limited)
	// The limit is 20 failures at once, then 1 per second: the run takes a few seconds.
	if n := e.lookups.Load(); n > 40 || limited < 250 {
		t.Errorf("300 bad credentials: %d database lookups, %d refused with 401, %d with 429", n, unauthorized, limited)
	}
	// The attacker's address is limited, not the keys: a user elsewhere gets in.
	if status, _, body := e.send(from("127.0.0.3"), http.MethodPost, "/v1/search", body, "Content-Type", "application/json",
		"Authorization", "Bearer "+e.keys["eng"]); status != http.StatusOK {
		t.Errorf("a legitimate user at another address: %d %s", status, body)
	}
}

// TestRequestStringsAreValidated: every string of a request reaches PostgreSQL or a model
// only valid: no NUL or control characters, valid UTF-8 (no lone surrogates), within its
// length; the caller gets a 400 naming the field, never a 500.
func TestRequestStringsAreValidated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	tests := []struct {
		path, body, field string
	}{
		{"/v1/search", `{"query":"vacation","filters":{"sources":["demo\u0000"]}}`, "filters.sources[0]"},
		{"/v1/answer", `{"question":"vacation days?","filters":{"sources":["demo","\u0000"]}}`, "filters.sources[1]"},
		{"/v1/search", `{"query":"vacation","filters":{"sources":["Demo"]}}`, "filters.sources[0]"},
		{"/v1/search", `{"query":"vacation","filters":{"sources":["demo;drop"]}}`, "filters.sources[0]"},
		{"/v1/search", `{"query":"vacation\u0000days"}`, "query"},
		{"/v1/answer", `{"question":"vacation\u0000days?"}`, "question"},
		{"/v1/answer", `{"question":"vacation\u0007days?"}`, "question"},
		{"/v1/answer", `{"question":"vacation days?","history":[{"role":"user","content":"hi\u0000"}]}`, "history[0].content"},
		{"/v1/answer", `{"question":"vacation days?","history":[{"role":"user\u0000","content":"hi"}]}`, "history[0].role"},
		{"/v1/answer", "{\"question\":\"vacation \xff\xfe days?\"}", "body"},
		{"/v1/search", `{"query":"vacation \ud800 days"}`, "body"},
		{"/v1/search", `{"query":"vacation \udc00\ud800 days"}`, "body"},
		{"/v1/answer", `{"question":"x","history":[{"role":"user","content":"` + strings.Repeat("y", 8001) + `"}]}`, "history[0].content"},
		{"/v1/search", `{"query":"x","filters":{"sources":["` + strings.Repeat("a", 101) + `"]}}`, "filters.sources[0]"},
	}
	for _, tt := range tests {
		status, _, body := e.send(nil, http.MethodPost, tt.path, []byte(tt.body), "Content-Type", "application/json",
			"Authorization", "Bearer "+e.keys["eng"])
		eb := decodeJSON[errBody](t, body)
		if status != http.StatusBadRequest || eb.Error.Code != "invalid_request" || eb.Error.Field != tt.field {
			t.Errorf("%s %.80q: %d %s, want 400 naming %s", tt.path, tt.body, status, body, tt.field)
		}
	}
	// Valid: a surrogate pair, tabs and new lines.
	for _, ok := range []string{`{"query":"vacation \ud83d\ude00 days"}`, "{\"query\":\"vacation\\tdays\\n\"}"} {
		if status, _, body := e.send(nil, http.MethodPost, "/v1/search", []byte(ok), "Content-Type", "application/json",
			"Authorization", "Bearer "+e.keys["eng"]); status != http.StatusOK {
			t.Errorf("%s: %d %s", ok, status, body)
		}
	}
}

// TestWrongMethod: a known path with another method is 405 with Allow, before
// authentication.
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/answer", "POST"},
		{http.MethodPut, "/v1/answer", "POST"},
		{http.MethodDelete, "/v1/search", "POST"},
		{http.MethodPost, "/v1/traces/0123456789abcdef", "GET"},
		{http.MethodPost, "/healthz", "GET"},
	} {
		for _, token := range []string{"", e.keys["eng"]} {
			var header []string
			if token != "" {
				header = []string{"Authorization", "Bearer " + token}
			}
			status, h, body := e.send(nil, tt.method, tt.path, nil, header...)
			if eb := decodeJSON[errBody](t, body); status != http.StatusMethodNotAllowed || eb.Error.Code != "method_not_allowed" ||
				!strings.Contains(h.Get("Allow"), tt.allow) {
				t.Errorf("%s %s (token %v): %d Allow %q %s", tt.method, tt.path, token != "", status, h.Get("Allow"), body)
			}
		}
	}
	if status, _, _ := e.send(nil, http.MethodGet, "/v1/nowhere", nil); status != http.StatusNotFound {
		t.Errorf("unknown path under /v1: %d, want 404", status)
	}
}

// TestContentType: the media type is parsed (case-insensitive, parameters allowed) and must
// be application/json, nothing that merely starts like it.
func TestContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	body := []byte(`{"query":"vacation"}`)
	for ct, want := range map[string]int{
		"application/json":                   http.StatusOK,
		"Application/JSON":                   http.StatusOK,
		"application/json; charset=utf-8":    http.StatusOK,
		"application/json;charset=\"UTF-8\"": http.StatusOK,
		"APPLICATION/JSON ; charset=UTF-8":   http.StatusOK,
		"application/jsonp":                  http.StatusUnsupportedMediaType,
		"application/json-seq":               http.StatusUnsupportedMediaType,
		"application/json+x":                 http.StatusUnsupportedMediaType,
		"application/json; charset=latin1":   http.StatusUnsupportedMediaType,
		"application/json;;":                 http.StatusUnsupportedMediaType,
		"text/plain":                         http.StatusUnsupportedMediaType,
		"application/x-www-form-urlencoded":  http.StatusUnsupportedMediaType,
		"":                                   http.StatusUnsupportedMediaType,
	} {
		header := []string{"Authorization", "Bearer " + e.keys["eng"]}
		if ct != "" {
			header = append(header, "Content-Type", ct)
		}
		status, _, out := e.send(nil, http.MethodPost, "/v1/search", body, header...)
		if status != want {
			t.Errorf("Content-Type %q: %d %s, want %d", ct, status, out, want)
		}
		if want == http.StatusUnsupportedMediaType && decodeJSON[errBody](t, out).Error.Code != "unsupported_media_type" {
			t.Errorf("Content-Type %q: %s", ct, out)
		}
	}
}

// TestAcceptQValues: the answer streams only when text/event-stream is acceptable (q > 0) and
// preferred to JSON.
func TestAcceptQValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	q := map[string]any{"question": "How many vacation days do employees get?"}
	for accept, stream := range map[string]bool{
		"text/event-stream":                         true,
		"Text/Event-Stream":                         true,
		"text/event-stream;q=0.5":                   true,
		"application/json, text/event-stream":       true,
		"text/event-stream, application/json;q=0.9": true,
		"text/event-stream;q=0":                     false,
		"text/event-stream; q=0.000":                false,
		"text/event-stream;q=0, application/json":   false,
		"application/json, text/event-stream;q=0.5": false,
		"text/event-stream;q=0.5, application/json": false,
		"application/json":                          false,
		"*/*":                                       false,
		"text/*":                                    false,
		"":                                          false,
		"text/event-streaming":                      false,
	} {
		status, header, body := e.post("/v1/answer", e.keys["eng"], q, "Accept", accept)
		got := strings.HasPrefix(header.Get("Content-Type"), "text/event-stream")
		if status != http.StatusOK || got != stream {
			t.Errorf("Accept %q: %d %s, streamed %v, want %v", accept, status, header.Get("Content-Type"), got, stream)
		}
		if !got {
			decodeJSON[api.AnswerResponse](t, body)
		}
	}
}

// TestDatabaseLossIs503: when the database restarts, requests in flight and those that follow
// get 503 with Retry-After (the client should retry), not 500; once it is back, the server
// answers again without a restart.
func TestDatabaseLossIs503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{dbProxy: true})
	jwtToken := e.jwt(jwt.SigningMethodHS256, nil)
	requests := []struct {
		name, path, token, body, accept string
	}{
		{"answer", "/v1/answer", jwtToken, `{"question":"How many vacation days do employees get?"}`, "application/json"},
		{"answer stream", "/v1/answer", jwtToken, `{"question":"What is the expense policy for hotels?"}`, "text/event-stream"},
		{"search", "/v1/search", jwtToken, `{"query":"parental leave"}`, "application/json"},
		{"search with a key", "/v1/search", e.keys["eng"], `{"query":"travel policy"}`, "application/json"},
		{"trace", "/v1/traces/0123456789abcdef0123", e.keys["admin"], "", "application/json"},
	}
	do := func(i int) (int, http.Header, []byte) {
		r := requests[i]
		method := http.MethodPost
		if r.body == "" {
			method = http.MethodGet
		}
		return e.send(nil, method, r.path, []byte(r.body), "Content-Type", "application/json", "Accept", r.accept,
			"Authorization", "Bearer "+r.token)
	}
	check := func(when string, i int, status int, header http.Header, body []byte) {
		t.Helper()
		if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" || decodeJSON[errBody](t, body).Error.Code != "unavailable" {
			t.Errorf("%s, %s: %d Retry-After %q %s; want 503 unavailable with Retry-After", when, requests[i].name,
				status, header.Get("Retry-After"), body)
		}
	}
	for i := range requests {
		if status, _, body := do(i); status != http.StatusOK && status != http.StatusNotFound {
			t.Fatalf("%s before the outage: %d %s", requests[i].name, status, body)
		}
	}

	// In flight: the queries are sent, and the connections drop before an answer comes.
	e.proxy.Hold()
	var wg sync.WaitGroup
	type result struct {
		status int
		header http.Header
		body   []byte
	}
	results := make([]result, len(requests))
	for i := range requests {
		wg.Go(func() {
			status, header, body := do(i)
			results[i] = result{status, header, body}
		})
	}
	time.Sleep(500 * time.Millisecond) // the requests reach the database and wait
	e.proxy.Cut()
	wg.Wait()
	for i, r := range results {
		check("in flight when the database went away", i, r.status, r.header, r.body)
	}

	// While it is down.
	for i := range requests {
		status, header, body := do(i)
		check("while the database is down", i, status, header, body)
	}
	if status, _ := e.get("/readyz", ""); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the database is down: %d", status)
	}

	// Back: the pool reconnects on its own.
	e.proxy.Restore()
	recovered := func(when string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for i := range requests {
			for {
				status, _, body := do(i)
				if status == http.StatusOK || status == http.StatusNotFound {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s %s: %d %s", requests[i].name, when, status, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	recovered("after the database came back")

	// An administrator terminates the server's sessions (as a restart or a failover does):
	// PostgreSQL says so (57P01) to the queries in flight, which get 503, or, when the pool
	// found the session dead before using it (it pings connections idle for a second), are
	// answered on a new one. Never a 500.
	e.proxy.Hold()
	for i := range requests {
		wg.Go(func() {
			status, header, body := do(i)
			results[i] = result{status, header, body}
		})
	}
	time.Sleep(500 * time.Millisecond)
	var terminated int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()) t`).Scan(&terminated); err != nil || terminated == 0 {
		t.Fatalf("terminated %d sessions: %v", terminated, err)
	}
	e.proxy.Release()
	wg.Wait()
	// A query whose connection died without a word (its bytes were held while the session
	// was terminated) waits no longer than the authentication's or the request's deadline:
	// 503 timeout, never a hang.
	for i, r := range results {
		if r.status == http.StatusOK || r.status == http.StatusNotFound {
			continue
		}
		if r.status == http.StatusServiceUnavailable && decodeJSON[errBody](t, r.body).Error.Code == "timeout" && r.header.Get("Retry-After") != "" {
			continue
		}
		check("in flight when its session was terminated", i, r.status, r.header, r.body)
	}
	recovered("after their sessions were terminated")
}

// TestTagsCompareByteForByte: nothing between a caller's principals and a document's tags
// (the cache, the permission filter in PostgreSQL, its collation and its GIN index) treats two
// different spellings as one: a document whose tag is a Unicode look-alike, case variant or
// other normalisation form of a caller's identity stays hidden from that caller.
func TestTagsCompareByteForByte(t *testing.T) {
	t.Parallel()
	docs := map[string]struct{ tag, sub, code string }{
		"long-s":    {"user:\u017Fam", "sam", "CODE-LONGS-1"},                  // ſam: NFKC and upper-casing make it sam
		"fullwidth": {"user:\uff4b\uff41\uff54\uff45", "kate", "CODE-FULLW-2"}, // ｋａｔｅ: NFKC makes it kate
		"sharp-s":   {"user:stra\u00dfe", "strasse", "CODE-SHARP-3"},           // straße: full case folding makes it strasse
		"dotless-i": {"user:s\u0131d", "sid", "CODE-DOTLESS-4"},                // sıd: upper-casing makes it SID
		"nfd":       {"user:jose\u0301", "jos\u00e9", "CODE-NFD-5"},            // the same name decomposed: canonically equivalent
		"nfc":       {"group:\u00e9quipe", "", "CODE-NFC-6"},                   // équipe, for a group e\u0301quipe below
	}
	extra := map[string]string{}
	for name, d := range docs {
		extra["private/"+name+".md"] = "# Access codes " + name + "\n\nThe access code of the vault is " + d.code + ".\n"
		extra["private/"+name+".md.acl"] = d.tag + "\n"
	}
	e := newEnv(t, options{extraDocuments: extra, ingestFailures: true})
	// A tag no identity can equal is refused where it is written: the document is hidden.
	refused := map[string]string{}
	for _, f := range e.failed {
		refused[f.URI] = f.Reason
	}
	for name, d := range docs {
		uri := "private/" + name + ".md"
		if want := map[bool]string{true: "", false: "invalid_acl"}[d.sub == ""]; refused[uri] != want {
			t.Errorf("%s (%+q): ingest outcome %q, want %q", uri, d.tag, refused[uri], want)
		}
	}
	var stored int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM documents WHERE uri LIKE 'private/%' AND cardinality(acl) > 0`).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("%d documents stored with a tag, want 1 (group:\u00e9quipe): %v", stored, err)
	}
	ask := func(token string) []byte {
		_, _, body := e.post("/v1/search", token, map[string]any{"query": "access code of the vault", "limit": 20})
		return body
	}
	for name, d := range docs {
		if d.sub == "" {
			continue
		}
		token := e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"sub": d.sub, "groups": []string{}})
		if body := ask(token); bytes.Contains(body, []byte(d.code)) {
			t.Errorf("%s: caller user:%s sees the document tagged %+q", name, d.sub, d.tag)
		}
	}
	// A decomposed spelling is refused where Docent takes identities in: the admin group here.
	if _, err := auth.New(context.Background(), auth.Config{AdminGroup: "e\u0301quipe"}, countingKeys{}, nil); err == nil {
		t.Error("a decomposed admin group was accepted")
	}
	// And the document's own spelling is the one that matches.
	token := e.jwt(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "nobody", "groups": []string{"\u00e9quipe"}})
	if body := ask(token); !bytes.Contains(body, []byte("CODE-NFC-6")) {
		t.Errorf("group:\u00e9quipe does not see its own document: %s", body)
	}
}

// TestASilentDatabaseCostsABoundedWait: a database that stops answering without closing its
// connections (a partition, a failover that leaves connections half open) costs a request at
// most the authentication's deadline, then 503 timeout with Retry-After: never a hang.
func TestASilentDatabaseCostsABoundedWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{dbProxy: true})
	key := addKey(t, e, "fresh", "group:engineering") // never looked up yet: not in any cache
	e.proxy.Hold()
	defer e.proxy.Release()
	status, header, body := e.send(nil, http.MethodPost, "/v1/search", []byte(`{"query":"failover"}`),
		"Content-Type", "application/json", "Authorization", "Bearer "+key)
	if status != http.StatusServiceUnavailable || decodeJSON[errBody](t, body).Error.Code != "timeout" || header.Get("Retry-After") == "" {
		t.Errorf("%d Retry-After %q %s; want 503 timeout with Retry-After", status, header.Get("Retry-After"), body)
	}
}
