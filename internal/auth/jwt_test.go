package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

// Test keys, generated once per test binary (RSA generation is slow under -race).
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaRotated  = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaStranger = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	ecKey       = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

var (
	b64       = base64.RawURLEncoding.EncodeToString
	hmacKey   = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	start     = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	issuer    = "https://idp.example.com/"
	audience  = "docent"
	adminName = "docent-admins"
)

// jwkRSA and jwkEC are the JWKS entries of public keys, as an identity provider publishes them.
func jwkRSA(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func jwkEC(kid string, k *ecdsa.PublicKey) map[string]any {
	b, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	n := (len(b) - 1) / 2
	crv := map[int]string{32: "P-256", 48: "P-384"}[n]
	return map[string]any{"kty": "EC", "kid": kid, "use": "sig", "crv": crv, "x": b64(b[1 : 1+n]), "y": b64(b[1+n:])}
}

// idp is an identity provider's JWKS endpoint.
type idp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	keys   []map[string]any
	status int
	hits   atomic.Int64
}

func newIDP(t *testing.T, keys ...map[string]any) *idp {
	t.Helper()
	p := &idp{keys: keys, status: http.StatusOK}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.status != http.StatusOK {
			http.Error(w, "unavailable", p.status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if err := json.NewEncoder(w).Encode(map[string]any{"keys": p.keys}); err != nil {
			t.Errorf("idp: %v", err)
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) publish(keys ...map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

func (p *idp) url() string { return p.srv.URL + "/.well-known/jwks.json" }

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: start} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects every log line at debug level, to check that no secret is ever logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// noKeys is a KeyStore without keys, for tests that use only JWTs.
type noKeys struct{}

func (noKeys) APIKeyByID(context.Context, int64) (index.APIKey, error) {
	return index.APIKey{}, index.ErrNotFound
}

func (noKeys) APIKeyByHash(context.Context, []byte) (index.APIKey, error) {
	return index.APIKey{}, index.ErrNotFound
}
func (noKeys) TouchAPIKeys(context.Context, []int64, time.Time) error { return nil }

var _ auth.KeyStore = noKeys{}

func newAuthenticator(t *testing.T, cfg auth.Config, keys auth.KeyStore, logs *logBuffer) *auth.Authenticator {
	t.Helper()
	if keys == nil {
		keys = noKeys{}
	}
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = logs.logger()
	}
	a, err := auth.New(context.Background(), cfg, keys, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

// mint signs claims as an identity provider would.
func mint(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("mint %s token: %v", method.Alg(), err)
	}
	return s
}

// claims returns valid claims at start, changed by over (a nil value deletes the claim).
func claims(over jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":    issuer,
		"aud":    audience,
		"sub":    "ann",
		"iat":    start.Add(-time.Minute).Unix(),
		"exp":    start.Add(time.Hour).Unix(),
		"groups": []any{"eng"},
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func reasonOf(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

func publicPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestAuthenticateJWT(t *testing.T) {
	t.Parallel()
	p := newIDP(t, jwkRSA("rsa-1", &rsaKey().PublicKey), jwkEC("ec-1", &ecKey().PublicKey))
	clk := newClock()
	logs := &logBuffer{}
	a := newAuthenticator(t, auth.Config{
		JWTSecret:  hmacKey,
		JWKSURL:    p.url(),
		Issuer:     issuer,
		Audience:   audience,
		AdminGroup: adminName,
		Now:        clk.Now,
	}, nil, logs)

	hs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodHS256, hmacKey, "", c) }
	rs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", c) }
	es := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodES256, ecKey(), "ec-1", c) }
	ann := []string{"group:eng", "public", "user:ann"}
	jwtOf := func(sub string, tags ...string) *auth.Principal {
		return &auth.Principal{Kind: auth.KindJWT, Subject: sub, Principals: tags}
	}

	unsignedNone := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims(nil))
	// The published RSA key, in the forms an attacker would try as an HMAC secret.
	confusionPEM := mint(t, jwt.SigningMethodHS256, publicPEM(t, &rsaKey().PublicKey), "rsa-1", claims(nil))
	confusionN := mint(t, jwt.SigningMethodHS256, rsaKey().PublicKey.N.Bytes(), "rsa-1", claims(nil))
	hs384 := mint(t, jwt.SigningMethodHS384, hmacKey, "", claims(nil))
	ps256 := mint(t, jwt.SigningMethodPS256, rsaKey(), "rsa-1", claims(nil))
	crit := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["crit"] = []string{"exp-ext"}
		s, err := tok.SignedString(hmacKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	tampered := func() string {
		// A valid token whose payload is swapped for one naming another user.
		parts := strings.Split(hs(claims(nil)), ".")
		other := strings.Split(hs(claims(jwt.MapClaims{"sub": "admin", "groups": []any{adminName}})), ".")
		return parts[0] + "." + other[1] + "." + parts[2]
	}()

	tests := []struct {
		name   string
		header string
		want   *auth.Principal // nil: refused with reason
		reason string
	}{
		{"HS256", "Bearer " + hs(claims(nil)), jwtOf("ann", ann...), ""},
		{"RS256 from the JWKS", "Bearer " + rs(claims(nil)), jwtOf("ann", ann...), ""},
		{"ES256 from the JWKS", "Bearer " + es(claims(nil)), jwtOf("ann", ann...), ""},
		{"scheme in lower case", "bearer " + hs(claims(nil)), jwtOf("ann", ann...), ""},
		{"RS256 without kid", "Bearer " + mint(t, jwt.SigningMethodRS256, rsaKey(), "", claims(nil)), jwtOf("ann", ann...), ""},

		// Time.
		{"expired", "Bearer " + hs(claims(jwt.MapClaims{"exp": start.Add(-time.Minute).Unix()})), nil, auth.ReasonExpired},
		{"expired within the clock skew", "Bearer " + hs(claims(jwt.MapClaims{"exp": start.Add(-10 * time.Second).Unix()})), jwtOf("ann", ann...), ""},
		{"not yet valid", "Bearer " + hs(claims(jwt.MapClaims{"nbf": start.Add(5 * time.Minute).Unix()})), nil, auth.ReasonNotYetValid},
		{"nbf within the clock skew", "Bearer " + hs(claims(jwt.MapClaims{"nbf": start.Add(10 * time.Second).Unix()})), jwtOf("ann", ann...), ""},
		{"issued in the future", "Bearer " + hs(claims(jwt.MapClaims{"iat": start.Add(5 * time.Minute).Unix()})), nil, auth.ReasonNotYetValid},
		{"missing exp", "Bearer " + hs(claims(jwt.MapClaims{"exp": nil})), nil, auth.ReasonMissingClaim},
		{"exp not a number", "Bearer " + hs(claims(jwt.MapClaims{"exp": "tomorrow"})), nil, auth.ReasonMalformed},

		// Signatures and algorithms.
		{"HS256 with another secret", "Bearer " + mint(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two bytes"), "", claims(nil)), nil, auth.ReasonBadSignature},
		{"RS256 by another key under a known kid", "Bearer " + mint(t, jwt.SigningMethodRS256, rsaStranger(), "rsa-1", claims(nil)), nil, auth.ReasonBadSignature},
		{"payload swapped", "Bearer " + tampered, nil, auth.ReasonBadSignature},
		{"alg none", "Bearer " + unsignedNone, nil, auth.ReasonUnsupportedAlg},
		{"HS256 signed with the RSA public key (PEM)", "Bearer " + confusionPEM, nil, auth.ReasonBadSignature},
		{"HS256 signed with the RSA modulus", "Bearer " + confusionN, nil, auth.ReasonBadSignature},
		{"HS384", "Bearer " + hs384, nil, auth.ReasonUnsupportedAlg},
		{"PS256", "Bearer " + ps256, nil, auth.ReasonUnsupportedAlg},
		{"RS256 naming the EC key", "Bearer " + mint(t, jwt.SigningMethodRS256, rsaKey(), "ec-1", claims(nil)), nil, auth.ReasonUnknownKey},
		{"unknown kid", "Bearer " + mint(t, jwt.SigningMethodRS256, rsaStranger(), "rsa-unknown", claims(nil)), nil, auth.ReasonUnknownKey},
		{"critical header", "Bearer " + crit, nil, auth.ReasonMalformed},

		// Issuer and audience.
		{"wrong audience", "Bearer " + hs(claims(jwt.MapClaims{"aud": "another-app"})), nil, auth.ReasonWrongAudience},
		{"audience among several", "Bearer " + hs(claims(jwt.MapClaims{"aud": []any{"another-app", audience}})), jwtOf("ann", ann...), ""},
		{"no audience", "Bearer " + hs(claims(jwt.MapClaims{"aud": nil})), nil, auth.ReasonWrongAudience},
		{"wrong issuer", "Bearer " + hs(claims(jwt.MapClaims{"iss": "https://evil.example.com/"})), nil, auth.ReasonWrongIssuer},
		{"no issuer", "Bearer " + hs(claims(jwt.MapClaims{"iss": nil})), nil, auth.ReasonWrongIssuer},

		// Malformed.
		{"garbage", "Bearer not-a-token", nil, auth.ReasonMalformed},
		{"garbage with dots", "Bearer a.b.c", nil, auth.ReasonMalformed},
		{"basic scheme", "Basic YW5uOnNlY3JldA==", nil, auth.ReasonMalformed},
		{"token without scheme", hs(claims(nil)), nil, auth.ReasonMalformed},
		{"scheme without token", "Bearer ", nil, auth.ReasonMissingToken},
		{"oversized header", "Bearer " + strings.Repeat("a", 20000), nil, auth.ReasonMalformed},

		// Claims to principals.
		{"sub in upper case", "Bearer " + hs(claims(jwt.MapClaims{"sub": "Ann@Example.COM"})),
			jwtOf("Ann@Example.COM", "group:eng", "public", "user:ann@example.com"), ""},
		{"missing sub", "Bearer " + hs(claims(jwt.MapClaims{"sub": nil})), nil, auth.ReasonMissingClaim},
		{"sub not a string", "Bearer " + hs(claims(jwt.MapClaims{"sub": 42})), nil, auth.ReasonMalformed},
		{"groups as a string", "Bearer " + hs(claims(jwt.MapClaims{"groups": "Ops"})),
			jwtOf("ann", "group:ops", "public", "user:ann"), ""},
		{"groups as an array", "Bearer " + hs(claims(jwt.MapClaims{"groups": []any{"Eng", "ops", "eng"}})),
			jwtOf("ann", "group:eng", "group:ops", "public", "user:ann"), ""},
		{"no groups", "Bearer " + hs(claims(jwt.MapClaims{"groups": nil})),
			jwtOf("ann", "public", "user:ann"), ""},
		{"groups of another type", "Bearer " + hs(claims(jwt.MapClaims{"groups": map[string]any{"eng": true}})),
			jwtOf("ann", "public", "user:ann"), ""},
		{"invalid groups dropped", "Bearer " + hs(claims(jwt.MapClaims{"groups": []any{"eng", "has space", "", "a,b", `q"uote`, 7, "ops"}})),
			jwtOf("ann", "group:eng", "group:ops", "public", "user:ann"), ""},
		{"invalid sub dropped", "Bearer " + hs(claims(jwt.MapClaims{"sub": "Ann Smith"})),
			jwtOf("Ann Smith", "group:eng", "public"), ""},
		{"admin group", "Bearer " + hs(claims(jwt.MapClaims{"groups": []any{"eng", "Docent-Admins"}})),
			&auth.Principal{Kind: auth.KindJWT, Subject: "ann", Principals: []string{"group:docent-admins", "group:eng", "public", "user:ann"}, Admin: true}, ""},
		{"admin group as a string", "Bearer " + rs(claims(jwt.MapClaims{"groups": adminName})),
			&auth.Principal{Kind: auth.KindJWT, Subject: "ann", Principals: []string{"group:docent-admins", "public", "user:ann"}, Admin: true}, ""},
		{"admin only as sub", "Bearer " + hs(claims(jwt.MapClaims{"sub": adminName, "groups": nil})),
			jwtOf(adminName, "public", "user:"+adminName), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(context.Background(), tt.header)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if diff := cmp.Diff(*tt.want, got); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			if reasonOf(err) != tt.reason {
				t.Fatalf("err = %v (reason %q), want reason %q", err, reasonOf(err), tt.reason)
			}
			if diff := cmp.Diff(auth.Principal{}, got); diff != "" {
				t.Errorf("a refusal returned a principal:\n%s", diff)
			}
			// The client sees the error text: it must not echo the token.
			token := strings.TrimPrefix(tt.header, "Bearer ")
			if len(token) > 8 && strings.Contains(err.Error(), token[len(token)-8:]) {
				t.Errorf("error text %q contains the token", err)
			}
		})
	}

	// Nothing logged, at debug level either, contains a token or the secret.
	logged := logs.String()
	for _, tt := range tests {
		token := strings.TrimPrefix(tt.header, "Bearer ")
		for _, part := range strings.Split(token, ".") {
			if len(part) >= 16 && strings.Contains(logged, part) {
				t.Errorf("%s: the logs contain part of the token: %s", tt.name, part)
			}
		}
	}
	if strings.Contains(logged, string(hmacKey)) {
		t.Error("the logs contain the HMAC secret")
	}
}

func TestAlgorithmsFollowConfiguration(t *testing.T) {
	t.Parallel()
	p := newIDP(t, jwkRSA("rsa-1", &rsaKey().PublicKey))
	clk := newClock()
	jwksOnly := newAuthenticator(t, auth.Config{JWKSURL: p.url(), Now: clk.Now}, nil, nil)
	secretOnly := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, Now: clk.Now}, nil, nil)
	keysOnly := newAuthenticator(t, auth.Config{Now: clk.Now}, nil, nil)

	c := claims(nil)
	hs := "Bearer " + mint(t, jwt.SigningMethodHS256, hmacKey, "", c)
	rs := "Bearer " + mint(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", c)
	// Without a secret, HS256 is refused outright, even keyed with the published RSA key.
	confusion := "Bearer " + mint(t, jwt.SigningMethodHS256, publicPEM(t, &rsaKey().PublicKey), "rsa-1", c)

	tests := []struct {
		name   string
		a      *auth.Authenticator
		header string
		reason string // "" for accepted
	}{
		{"JWKS only: RS256", jwksOnly, rs, ""},
		{"JWKS only: HS256", jwksOnly, hs, auth.ReasonUnsupportedAlg},
		{"JWKS only: HS256 keyed with the RSA public key", jwksOnly, confusion, auth.ReasonUnsupportedAlg},
		{"secret only: HS256", secretOnly, hs, ""},
		{"secret only: RS256", secretOnly, rs, auth.ReasonUnsupportedAlg},
		{"API keys only: HS256", keysOnly, hs, auth.ReasonUnsupportedAlg},
		{"API keys only: RS256", keysOnly, rs, auth.ReasonUnsupportedAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.a.Authenticate(context.Background(), tt.header)
			if reasonOf(err) != tt.reason || (tt.reason == "" && err != nil) {
				t.Errorf("err = %v, want reason %q", err, tt.reason)
			}
		})
	}
}

func TestCustomGroupsClaim(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, GroupsClaim: "roles", AdminGroup: "root", Now: newClock().Now}, nil, nil)
	tok := mint(t, jwt.SigningMethodHS256, hmacKey, "", claims(jwt.MapClaims{"roles": []any{"Reader", "root"}, "groups": []any{"ignored"}}))
	got, err := a.Authenticate(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Principal{Kind: auth.KindJWT, Subject: "ann", Principals: []string{"group:reader", "group:root", "public", "user:ann"}, Admin: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
}

func TestNoAdminGroupMeansNoAdmin(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, Now: newClock().Now}, nil, nil)
	tok := mint(t, jwt.SigningMethodHS256, hmacKey, "", claims(jwt.MapClaims{"groups": []any{"admin", "admins", adminName, ""}}))
	got, err := a.Authenticate(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Admin {
		t.Errorf("admin without an AdminGroup configured: %+v", got)
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	p := newIDP(t, jwkRSA("2026-05", &rsaKey().PublicKey))
	clk := newClock()
	a := newAuthenticator(t, auth.Config{JWKSURL: p.url(), Now: clk.Now}, nil, nil)
	ctx := context.Background()
	old := "Bearer " + mint(t, jwt.SigningMethodRS256, rsaKey(), "2026-05", claims(nil))
	rotated := "Bearer " + mint(t, jwt.SigningMethodRS256, rsaRotated(), "2026-06", claims(nil))
	fetches := p.hits.Load() // the fetch at start-up

	if _, err := a.Authenticate(ctx, old); err != nil {
		t.Fatalf("current key: %v", err)
	}
	// The provider publishes a new key and starts signing with it, right after our fetch: the
	// unknown kid may not refetch yet.
	p.publish(jwkRSA("2026-05", &rsaKey().PublicKey), jwkRSA("2026-06", &rsaRotated().PublicKey))
	if _, err := a.Authenticate(ctx, rotated); reasonOf(err) != auth.ReasonUnknownKey {
		t.Fatalf("new kid within the refresh interval: err = %v, want unknown_key", err)
	}
	if n := p.hits.Load() - fetches; n != 0 {
		t.Fatalf("the JWKS was fetched %d times within the refresh interval", n)
	}

	// Later, the unknown kid triggers one fetch, shared by concurrent requests.
	clk.advance(31 * time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { _, errs[i] = a.Authenticate(ctx, rotated) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d with the new kid: %v", i, err)
		}
	}
	if n := p.hits.Load() - fetches; n != 1 {
		t.Errorf("the JWKS was fetched %d times for 20 concurrent requests with a new kid, want 1", n)
	}

	// Made-up kids do not make the server fetch again and again.
	for i := range 5 {
		stranger := "Bearer " + mint(t, jwt.SigningMethodRS256, rsaStranger(), "made-up-"+string(rune('a'+i)), claims(nil))
		if _, err := a.Authenticate(ctx, stranger); reasonOf(err) != auth.ReasonUnknownKey {
			t.Fatalf("made-up kid: err = %v, want unknown_key", err)
		}
	}
	if n := p.hits.Load() - fetches; n != 1 {
		t.Errorf("made-up kids caused %d more fetches, want none", n-1)
	}

	// The provider retires the old key: once fetched again, its tokens are refused.
	p.publish(jwkRSA("2026-06", &rsaRotated().PublicKey))
	clk.advance(31 * time.Second)
	if _, err := a.Authenticate(ctx, "Bearer "+mint(t, jwt.SigningMethodRS256, rsaStranger(), "made-up-z", claims(nil))); reasonOf(err) != auth.ReasonUnknownKey {
		t.Fatalf("made-up kid: err = %v", err)
	}
	if _, err := a.Authenticate(ctx, old); reasonOf(err) != auth.ReasonUnknownKey {
		t.Errorf("retired key: err = %v, want unknown_key", err)
	}
	if _, err := a.Authenticate(ctx, rotated); err != nil {
		t.Errorf("current key after the retirement: %v", err)
	}
}

func TestJWKSPeriodicRefresh(t *testing.T) {
	t.Parallel()
	p := newIDP(t, jwkRSA("a", &rsaKey().PublicKey))
	clk := newClock() // never advanced: an unknown kid cannot trigger a fetch
	a := newAuthenticator(t, auth.Config{JWKSURL: p.url(), JWKSRefresh: time.Second, Now: clk.Now}, nil, nil)
	p.publish(jwkRSA("a", &rsaKey().PublicKey), jwkEC("b", &ecKey().PublicKey))
	tok := "Bearer " + mint(t, jwt.SigningMethodES256, ecKey(), "b", claims(nil))

	deadline := time.Now().Add(10 * time.Second)
	for p.hits.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the JWKS was not fetched again within 10s with JWKSRefresh 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The handler counts a hit before answering: give the refresh a moment to store the keys.
	for {
		_, err := a.Authenticate(context.Background(), tok)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key published before a periodic refresh: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJWKSRefreshFailureKeepsKeys(t *testing.T) {
	t.Parallel()
	p := newIDP(t, jwkRSA("a", &rsaKey().PublicKey))
	clk := newClock()
	logs := &logBuffer{}
	a := newAuthenticator(t, auth.Config{JWKSURL: p.url(), Now: clk.Now}, nil, logs)
	ctx := context.Background()
	tok := "Bearer " + mint(t, jwt.SigningMethodRS256, rsaKey(), "a", claims(nil))

	p.mu.Lock()
	p.status = http.StatusServiceUnavailable
	p.mu.Unlock()
	clk.advance(time.Minute)
	// An unknown kid makes it fetch, which fails.
	if _, err := a.Authenticate(ctx, "Bearer "+mint(t, jwt.SigningMethodRS256, rsaStranger(), "b", claims(nil))); reasonOf(err) != auth.ReasonUnknownKey {
		t.Fatalf("unknown kid while the provider is down: err = %v", err)
	}
	if _, err := a.Authenticate(ctx, tok); err != nil {
		t.Errorf("known key while the provider is down: %v", err)
	}
	// An empty key set (a broken deployment at the provider) does not wipe the keys either.
	p.mu.Lock()
	p.status = http.StatusOK
	p.keys = nil
	p.mu.Unlock()
	clk.advance(time.Minute)
	if _, err := a.Authenticate(ctx, "Bearer "+mint(t, jwt.SigningMethodRS256, rsaStranger(), "c", claims(nil))); reasonOf(err) != auth.ReasonUnknownKey {
		t.Fatalf("unknown kid: err = %v", err)
	}
	if _, err := a.Authenticate(ctx, tok); err != nil {
		t.Errorf("known key after an empty key set: %v", err)
	}
	if !strings.Contains(logs.String(), "JWKS") {
		t.Errorf("failed refreshes were not logged:\n%s", logs.String())
	}
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	weak := mustRSA(1024)
	p384 := mustEC(elliptic.P384())
	leaked := mustRSA(2048)
	leakedJWK := jwkRSA("leaked", &leaked.PublicKey)
	leakedJWK["d"] = b64(leaked.D.Bytes())
	encJWK := jwkRSA("enc", &rsaStranger().PublicKey)
	encJWK["use"] = "enc"
	wrongAlg := jwkRSA("ps", &rsaRotated().PublicKey)
	wrongAlg["alg"] = "PS256"
	offCurve := jwkEC("off-curve", &ecKey().PublicKey)
	offCurve["kid"] = "off-curve"
	offCurve["y"] = b64(make([]byte, 32))

	p := newIDP(t,
		map[string]any{"kty": "oct", "kid": "oct", "k": b64(hmacKey)},
		jwkRSA("weak", &weak.PublicKey),
		jwkEC("p384", &p384.PublicKey),
		leakedJWK, encJWK, wrongAlg, offCurve,
		map[string]any{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(make([]byte, 32))},
		jwkRSA("good", &rsaKey().PublicKey),
	)
	a := newAuthenticator(t, auth.Config{JWKSURL: p.url(), Now: newClock().Now}, nil, nil)

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{"good key", mint(t, jwt.SigningMethodRS256, rsaKey(), "good", claims(nil)), ""},
		{"symmetric key in the set", mint(t, jwt.SigningMethodHS256, hmacKey, "oct", claims(nil)), auth.ReasonUnsupportedAlg},
		{"1024-bit RSA", mint(t, jwt.SigningMethodRS256, weak, "weak", claims(nil)), auth.ReasonUnknownKey},
		{"published private key", mint(t, jwt.SigningMethodRS256, leaked, "leaked", claims(nil)), auth.ReasonUnknownKey},
		{"encryption key", mint(t, jwt.SigningMethodRS256, rsaStranger(), "enc", claims(nil)), auth.ReasonUnknownKey},
		{"key for another alg", mint(t, jwt.SigningMethodRS256, rsaRotated(), "ps", claims(nil)), auth.ReasonUnknownKey},
		{"P-384 key named by an ES256 token", mint(t, jwt.SigningMethodES256, ecKey(), "p384", claims(nil)), auth.ReasonUnknownKey},
		{"point not on the curve", mint(t, jwt.SigningMethodES256, ecKey(), "off-curve", claims(nil)), auth.ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(context.Background(), "Bearer "+tt.token)
			if reasonOf(err) != tt.reason || (tt.reason == "" && err != nil) {
				t.Errorf("err = %v, want reason %q", err, tt.reason)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	down := newIDP(t, jwkRSA("a", &rsaKey().PublicKey))
	down.status = http.StatusInternalServerError
	empty := newIDP(t)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>login</html>"))
	}))
	t.Cleanup(html.Close)

	tests := []struct {
		name  string
		cfg   auth.Config
		keys  auth.KeyStore
		field string // named by the error
	}{
		{"short secret", auth.Config{JWTSecret: []byte("short")}, noKeys{}, "JWTSecret"},
		{"plain http JWKS", auth.Config{JWKSURL: "http://idp.example.com/jwks"}, noKeys{}, "JWKSURL"},
		{"JWKS not a URL", auth.Config{JWKSURL: "::"}, noKeys{}, "JWKSURL"},
		{"JWKS relative", auth.Config{JWKSURL: "/jwks"}, noKeys{}, "JWKSURL"},
		{"negative skew", auth.Config{ClockSkew: -time.Second}, noKeys{}, "ClockSkew"},
		{"skew over 5m", auth.Config{ClockSkew: 6 * time.Minute}, noKeys{}, "ClockSkew"},
		{"refresh too often", auth.Config{JWKSRefresh: time.Millisecond}, noKeys{}, "JWKSRefresh"},
		{"groups claim is sub", auth.Config{GroupsClaim: "sub"}, noKeys{}, "GroupsClaim"},
		{"admin group upper case", auth.Config{AdminGroup: "Admins"}, noKeys{}, "AdminGroup"},
		{"admin group with prefix", auth.Config{AdminGroup: "group:admins"}, noKeys{}, "AdminGroup"},
		{"admin group with a space", auth.Config{AdminGroup: "the admins"}, noKeys{}, "AdminGroup"},
		{"admin group with a long s", auth.Config{AdminGroup: "\u017fre"}, noKeys{}, "AdminGroup"},
		{"admin group with a dotless i", auth.Config{AdminGroup: "adm\u0131ns"}, noKeys{}, "AdminGroup"},
		{"admin group decomposed", auth.Config{AdminGroup: "e\u0301quipe"}, noKeys{}, "AdminGroup"},
		{"widget audience is the audience", auth.Config{Audience: "docent", WidgetAudience: "docent"}, noKeys{}, "WidgetAudience"},
		{"widget origin not normal", auth.Config{WidgetOrigins: []string{"HTTPS://Intranet.example"}}, noKeys{}, "WidgetOrigins"},
		{"widget origin plain http", auth.Config{WidgetOrigins: []string{"http://intranet.example"}}, noKeys{}, "WidgetOrigins"},
		{"no key store", auth.Config{}, nil, "KeyStore"},
		{"JWKS unavailable", auth.Config{JWKSURL: down.url()}, noKeys{}, "JWKS"},
		{"JWKS without usable keys", auth.Config{JWKSURL: empty.url()}, noKeys{}, "JWKS"},
		{"JWKS not JSON", auth.Config{JWKSURL: html.URL}, noKeys{}, "JWKS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := auth.New(context.Background(), tt.cfg, tt.keys, nil)
			if err == nil {
				a.Close(context.Background())
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
		})
	}
}

func TestAnonymous(t *testing.T) {
	t.Parallel()
	open := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, AllowAnonymous: true, Now: newClock().Now}, nil, nil)
	closed := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, Now: newClock().Now}, nil, nil)
	ctx := context.Background()

	got, err := open.Authenticate(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(auth.Principal{Kind: auth.KindAnonymous, Principals: []string{"public"}}, got); diff != "" {
		t.Errorf("anonymous principal (-want +got):\n%s", diff)
	}
	if _, err := closed.Authenticate(ctx, ""); reasonOf(err) != auth.ReasonMissingToken {
		t.Errorf("anonymous refused: err = %v, want missing_token", err)
	}
	// Credentials that fail are refused even where anonymous access is allowed: a client that
	// tried to authenticate must learn that it failed.
	for _, header := range []string{
		"Bearer ",
		"Bearer garbage",
		"Bearer " + mint(t, jwt.SigningMethodHS256, hmacKey, "", claims(jwt.MapClaims{"exp": start.Add(-time.Hour).Unix()})),
		"Bearer dk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"Basic Zm9vOmJhcg==",
	} {
		if p, err := open.Authenticate(ctx, header); err == nil {
			t.Errorf("%.20q... was let in as %+v", header, p)
		}
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	for _, reason := range []string{
		auth.ReasonMissingToken, auth.ReasonMalformed, auth.ReasonExpired, auth.ReasonNotYetValid,
		auth.ReasonMissingClaim, auth.ReasonBadSignature, auth.ReasonWrongAudience, auth.ReasonWrongIssuer,
		auth.ReasonRevoked, auth.ReasonUnknownKey, auth.ReasonUnsupportedAlg, auth.ReasonInvalidToken, "future_reason",
	} {
		msg := (&auth.Error{Reason: reason}).Error()
		if !strings.HasPrefix(msg, "authentication failed: ") || len(msg) < len("authentication failed: ")+10 {
			t.Errorf("%s: message %q", reason, msg)
		}
	}
}
