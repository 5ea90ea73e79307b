package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/acl"
	"github.com/docent-rag/docent/internal/index"
)

// End-user sessions (docs/widget.md). A host site's backend, holding a session issuer key,
// asks for a session for its logged-in user; the server answers with a token of its own:
//
//	dws_<claims>.<signature>
//
// claims is the unpadded base64url of a JSON object (sessionClaims); signature is the
// unpadded base64url of HMAC-SHA256(secret, "docent widget session v1\x00" + claims). The
// token is opaque to everyone but this server: no other component signs or reads it, so it
// cannot be confused with a JWT, and the secret is never shared.
//
// A token is accepted while it has not expired, when its signature verifies, when its issuer
// key is live and still allows every principal in it, and (checked by internal/api) only
// from one of its origins.

// SessionPrefix starts every end-user session token.
const SessionPrefix = "dws_"

// MaxSessionTTL is the longest a session lives; DefaultSessionTTL is used when the issuer
// asks for none.
const (
	MaxSessionTTL     = 15 * time.Minute
	DefaultSessionTTL = MaxSessionTTL
	minSessionTTL     = time.Minute
	// sessionSecretLen is the length of the HMAC key, generated or given.
	sessionSecretLen = 32
	// maxSessionGroups bounds a session's groups, and so the token's size.
	maxSessionGroups = 64
)

const sessionContext = "docent widget session v1\x00"

// Refusal reasons of end-user sessions, beyond the common ones (ReasonExpired,
// ReasonBadSignature, ReasonMalformed, ReasonRevoked).
const (
	// ReasonSessionsDisabled: the server has no session secret configured.
	ReasonSessionsDisabled = "sessions_disabled"
	// ReasonIssuerRevoked: the key that minted the session was revoked.
	ReasonIssuerRevoked = "issuer_revoked"
)

type sessionClaims struct {
	V        int      `json:"v"`
	Issuer   int64    `json:"iss"` // the issuer key's id
	Subject  string   `json:"sub"` // the user id, canonical
	Groups   []string `json:"groups"`
	Origins  []string `json:"origins"`
	IssuedAt int64    `json:"iat"`
	Expires  int64    `json:"exp"`
	ID       string   `json:"jti"` // random: two sessions never share a token
}

// GenerateSessionSecret returns a new random session secret.
func GenerateSessionSecret() ([]byte, error) {
	b := make([]byte, sessionSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate the session secret: %w", err)
	}
	return b, nil
}

// SessionRequest is what an issuer asks for: a user and the groups to grant.
type SessionRequest struct {
	User   string        // the user's id, without "user:"; canonical (acl.CanonicalName)
	Groups []string      // group names, without "group:"; canonical
	TTL    time.Duration // 0: DefaultSessionTTL; at most MaxSessionTTL
}

// Session is a minted session.
type Session struct {
	Token      string
	ExpiresAt  time.Time
	Principals []string // what the token grants: "public", user:<id>, group:<name>...
	Origins    []string
}

// GrantError is a session request that asks for more than its issuer may grant, or is not
// valid: its text is safe to show to the issuer.
type GrantError struct {
	Forbidden bool   // true: outside the issuer's limits (403); false: malformed (400)
	Field     string // "user", "groups" or "ttl_seconds"
	Message   string
}

func (e *GrantError) Error() string { return e.Message }

// IssueSession mints a session for req on behalf of issuer, which must be a session issuer
// key's principal (KindSessionIssuer). The rule: the user id is canonical and, unless the
// issuer's user domain is "*", ends with "@" and that domain; every group is canonical and
// among the issuer's grants. Anything else is refused, never narrowed silently.
func (a *Authenticator) IssueSession(ctx context.Context, issuer Principal, req SessionRequest) (Session, error) {
	if issuer.Kind != KindSessionIssuer || issuer.KeyID == 0 || len(issuer.Origins) == 0 {
		return Session{}, &GrantError{Forbidden: true, Message: "only a session issuer key may mint sessions"}
	}
	secret := a.currentSessionSecret()
	if secret == nil {
		return Session{}, &GrantError{Forbidden: true, Message: messages[ReasonSessionsDisabled]}
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	if ttl < minSessionTTL || ttl > MaxSessionTTL {
		return Session{}, &GrantError{Field: "ttl_seconds", Message: fmt.Sprintf("ttl_seconds must be between %d and %d", int(minSessionTTL.Seconds()), int(MaxSessionTTL.Seconds()))}
	}
	tags, err := grant(issuer.Grants, issuer.UserDomain, req.User, req.Groups)
	if err != nil {
		return Session{}, err
	}
	now := a.cfg.Now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return Session{}, fmt.Errorf("mint session: %w", err)
	}
	c := sessionClaims{V: 1, Issuer: issuer.KeyID, Subject: req.User, Groups: slices.Clone(req.Groups),
		Origins: slices.Clone(issuer.Origins), IssuedAt: now.Unix(), Expires: now.Add(ttl).Unix(),
		ID: keyEncoding.EncodeToString(jti)}
	slices.Sort(c.Groups)
	c.Groups = slices.Compact(c.Groups)
	payload, err := json.Marshal(c)
	if err != nil {
		return Session{}, fmt.Errorf("mint session: %w", err)
	}
	claims := keyEncoding.EncodeToString(payload)
	token := SessionPrefix + claims + "." + keyEncoding.EncodeToString(sessionMAC(secret, claims))
	a.logger.InfoContext(ctx, "auth: session issued", "issuer", issuer.Subject, "user", req.User, "groups", len(c.Groups), "expires", time.Unix(c.Expires, 0).UTC())
	return Session{Token: token, ExpiresAt: time.Unix(c.Expires, 0).UTC(), Principals: principalSet(ctx, a.logger, slog.LevelWarn, "session", tags), Origins: c.Origins}, nil
}

// grant checks a user and groups against an issuer's limits and returns their tags.
func grant(grants []string, domain, user string, groups []string) ([]string, error) {
	if user == "" {
		return nil, &GrantError{Field: "user", Message: "user is required: the id of the logged-in user"}
	}
	name, err := acl.CanonicalName(user)
	if err != nil || name != user || acl.Validate("user:"+user) != nil {
		return nil, &GrantError{Field: "user", Message: "user is not a canonical identity: lower case, without spaces, commas or characters that Unicode case mapping or normalisation would change (see docs/widget.md)"}
	}
	if domain != "*" && !strings.HasSuffix(user, "@"+domain) {
		return nil, &GrantError{Forbidden: true, Field: "user", Message: fmt.Sprintf("this issuer may only grant users of %s (ids ending in @%s)", domain, domain)}
	}
	if len(groups) > maxSessionGroups {
		return nil, &GrantError{Field: "groups", Message: fmt.Sprintf("at most %d groups", maxSessionGroups)}
	}
	tags := []string{"user:" + user}
	for _, g := range groups {
		name, err := acl.CanonicalName(g)
		if err != nil || name != g || strings.HasPrefix(g, "group:") || acl.Validate("group:"+g) != nil {
			return nil, &GrantError{Field: "groups", Message: fmt.Sprintf("group %q is not a canonical group name (give it without \"group:\")", g)}
		}
		if !slices.Contains(grants, "group:"+g) {
			return nil, &GrantError{Forbidden: true, Field: "groups", Message: fmt.Sprintf("this issuer may not grant group %q", g)}
		}
		tags = append(tags, "group:"+g)
	}
	return tags, nil
}

func sessionMAC(secret []byte, claims string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(sessionContext))
	m.Write([]byte(claims))
	return m.Sum(nil)
}

// authenticateSession verifies an end-user session token. The signature is checked before
// the claims are read; then expiry; then the issuer key, looked up on every use so that
// revoking it ends its sessions at once, and the grant rule again against the key as it is.
func (a *Authenticator) authenticateSession(ctx context.Context, token string) (Principal, error) {
	secret := a.currentSessionSecret()
	if secret == nil {
		return Principal{}, a.refused(ctx, ReasonSessionsDisabled, nil)
	}
	// Only the base64url alphabet and one dot: Go's base64 decoder skips \r and \n even in
	// strict mode, which would let one token be spelt many ways (found by FuzzSessionToken).
	if strings.IndexFunc(token, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return Principal{}, a.refused(ctx, ReasonMalformed, nil)
	}
	claims, sig, ok := strings.Cut(token[len(SessionPrefix):], ".")
	if !ok || claims == "" || strings.Contains(sig, ".") {
		return Principal{}, a.refused(ctx, ReasonMalformed, nil)
	}
	gotMAC, err := keyEncoding.DecodeString(sig)
	if err != nil {
		return Principal{}, a.refused(ctx, ReasonMalformed, err)
	}
	if !hmac.Equal(gotMAC, sessionMAC(secret, claims)) {
		return Principal{}, a.refused(ctx, ReasonBadSignature, nil)
	}
	payload, err := keyEncoding.DecodeString(claims)
	if err != nil {
		return Principal{}, a.refused(ctx, ReasonMalformed, err)
	}
	var c sessionClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() || c.V != 1 || c.Issuer <= 0 || len(c.Origins) == 0 {
		return Principal{}, a.refused(ctx, ReasonMalformed, err)
	}
	now := a.cfg.Now()
	exp, iat := time.Unix(c.Expires, 0), time.Unix(c.IssuedAt, 0)
	switch {
	case exp.Sub(iat) > MaxSessionTTL || exp.Before(iat):
		return Principal{}, a.refused(ctx, ReasonInvalidToken, errors.New("session lifetime out of bounds"))
	case !now.Before(exp.Add(a.cfg.ClockSkew)):
		return Principal{}, a.refused(ctx, ReasonExpired, nil)
	case iat.After(now.Add(a.cfg.ClockSkew)):
		return Principal{}, a.refused(ctx, ReasonNotYetValid, nil)
	}
	k, err := a.keys.APIKeyByID(ctx, c.Issuer)
	if errors.Is(err, index.ErrNotFound) {
		return Principal{}, a.refused(ctx, ReasonIssuerRevoked, nil)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate session: %w", err)
	}
	if k.RevokedAt != nil || k.Kind != index.KindSessionIssuer {
		return Principal{}, a.refused(ctx, ReasonIssuerRevoked, nil)
	}
	tags, err := grant(k.Principals, k.UserDomain, c.Subject, c.Groups)
	if err != nil {
		return Principal{}, a.refused(ctx, ReasonInvalidToken, err)
	}
	// Bound to the origins both in the token and still on the key.
	var origins []string
	for _, o := range c.Origins {
		if slices.Contains(k.Origins, o) {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		return Principal{}, a.refused(ctx, ReasonInvalidToken, errors.New("no origin left"))
	}
	return Principal{
		Kind:       KindSession,
		Subject:    c.Subject,
		Principals: principalSet(ctx, a.logger, slog.LevelWarn, "session", tags),
		KeyID:      k.ID,
		Origins:    origins,
	}, nil
}

// currentSessionSecret returns the secret sessions are signed and checked with now; nil when
// sessions are not configured.
func (a *Authenticator) currentSessionSecret() []byte {
	if p := a.sessionSecret.Load(); p != nil {
		return *p
	}
	return nil
}

// refreshSessionSecret reads the session secret from Config.SessionSecretSource every
// SessionSecretRefresh until ctx ends: a rotation reaches this server within that time.
func (a *Authenticator) refreshSessionSecret(ctx context.Context) {
	defer close(a.secretDone)
	tick := time.NewTicker(a.cfg.SessionSecretRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		secret, err := a.cfg.SessionSecretSource(rctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			a.logger.WarnContext(ctx, "auth: read the session secret again; keeping the one in use", "err", err)
		case len(secret) < sessionSecretLen:
			a.logger.ErrorContext(ctx, "auth: the stored session secret is too short; keeping the one in use", "bytes", len(secret))
		case !bytes.Equal(secret, a.currentSessionSecret()):
			secret = slices.Clone(secret)
			a.sessionSecret.Store(&secret)
			a.logger.InfoContext(ctx, "auth: the session secret was rotated: sessions signed with the previous one are refused from now on")
		}
	}
}
