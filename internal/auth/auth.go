// Package auth authenticates callers of the HTTP API and turns them into the permission tags
// that retrieval filters by (see internal/acl).
//
// A caller presents "Authorization: Bearer <token>", where the token is either an API key
// (made by GenerateKey, stored as its SHA-256 in the api_keys table, carrying the tags it was
// given) or a JWT from an identity provider: HS256 with a shared secret, or RS256/ES256 signed
// by a key published in the provider's JWKS. A JWT must carry exp and sub; its sub becomes
// user:<sub> and each of its groups group:<group>, lower-cased in ASCII only. A sub or group
// that Unicode case mapping, folding or normalisation could turn into another identity (KELVIN
// SIGN for k, a fullwidth letter, a non-ASCII capital, ...) refuses the whole token: see
// acl.CanonicalName. A tag that is merely not valid (a space in a group's name) is dropped. Every
// caller also matches "public"; without a header, a caller is anonymous and matches only
// "public" when that is allowed.
//
// A JWT whose header or claims are not valid UTF-8, or repeat a key in any object, is refused
// before it is read: parsers disagree about such JSON, so it could mean one thing to the
// identity provider and another here.
//
// Each way in accepts exactly one algorithm per kind of key, so a token cannot choose how it
// is checked: "alg": "none", or an HS256 token whose "secret" is a published RSA public key
// (algorithm confusion), is refused. Refusals are *Error values whose text is safe to show to
// the client; tokens and keys are never logged.
package auth

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docent-rag/docent/internal/acl"
	"github.com/docent-rag/docent/internal/index"
)

// Config configures an Authenticator. With neither JWTSecret nor JWKSURL, only API keys (and
// anonymous callers, if allowed) are accepted.
type Config struct {
	// JWTSecret verifies HS256 tokens; at least 32 bytes. Empty: HS256 is refused.
	JWTSecret []byte
	// JWKSURL is where the identity provider publishes its public keys (https; plain http only
	// on the loopback interface). RS256 and ES256 tokens are verified with them. Empty: refused.
	JWKSURL string
	// Issuer, when set, must equal a JWT's iss.
	Issuer string
	// Audience, when set, must be among a JWT's aud. Set it whenever JWKSURL is: otherwise
	// every token the provider issues, for any application, is accepted here.
	Audience string
	// GroupsClaim names the top-level claim holding a JWT's groups, an array of strings or a
	// single string. Default "groups".
	GroupsClaim string
	// AdminGroup makes a JWT whose groups contain it an admin. A group name as in the claim,
	// lower-case and canonical (acl.Validate), without "group:". Empty: JWTs are never admin (API
	// keys can be).
	AdminGroup string
	// ClockSkew is the leeway for exp, nbf and iat. Default 30s, at most 5m.
	ClockSkew time.Duration
	// AllowAnonymous lets requests without an Authorization header in, seeing public
	// documents only.
	AllowAnonymous bool
	// JWKSRefresh is how often the JWKS is fetched again. Default 10m. A token with an
	// unknown kid also triggers a fetch, at most every 30s.
	JWKSRefresh time.Duration
	// SessionSecret signs end-user sessions (IssueSession); at least 32 bytes. Empty: sessions
	// are neither issued nor accepted.
	SessionSecret []byte
	// SessionSecretSource, when set, reads the session secret again every
	// SessionSecretRefresh (default 30s): the database's, shared by every server, so that a
	// rotation (`server keys rotate-session-secret`) reaches every running server within that
	// time rather than at its restart. SessionSecret is the secret until the first read. A
	// read that fails keeps the secret in use (and is logged): sessions also need the database
	// to look up their issuer, so a secret that cannot be read is one that cannot be used.
	SessionSecretSource  func(ctx context.Context) ([]byte, error)
	SessionSecretRefresh time.Duration
	// WidgetAudience marks widget JWTs: a JWT whose aud contains it is bound like an end-user
	// session (see Principal.WidgetJWT): it is accepted only when it expires within
	// MaxSessionTTL, is never admin, and may only be used from WidgetOrigins. It need not
	// carry Audience. Empty: no JWT is a widget JWT.
	WidgetAudience string
	// WidgetOrigins are the browser origins widget JWTs are accepted from (DOCENT_CORS_ORIGINS),
	// each in its normal form (KeyOrigin). Empty: widget JWTs are refused.
	WidgetOrigins []string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

const (
	defaultClockSkew = 30 * time.Second
	maxClockSkew     = 5 * time.Minute
	// maxHeader bounds the Authorization header: a JWT with many groups is a few kilobytes.
	maxHeader = 16 << 10
)

func (c *Config) defaults() {
	c.GroupsClaim = cmp.Or(c.GroupsClaim, "groups")
	c.ClockSkew = cmp.Or(c.ClockSkew, defaultClockSkew)
	c.JWKSRefresh = cmp.Or(c.JWKSRefresh, 10*time.Minute)
	c.SessionSecretRefresh = cmp.Or(c.SessionSecretRefresh, 30*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first problem of the configuration, naming the field, without
// contacting anything: what New checks before it fetches the JWKS.
func (c Config) Validate() error {
	c.defaults()
	return c.validate()
}

func (c *Config) validate() error {
	if n := len(c.JWTSecret); n > 0 && n < 32 {
		return fmt.Errorf("auth config: JWTSecret is %d bytes; HS256 needs at least 32", n)
	}
	if n := len(c.SessionSecret); n > 0 && n < sessionSecretLen {
		return fmt.Errorf("auth config: SessionSecret is %d bytes; it needs at least %d", n, sessionSecretLen)
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil {
			return errors.New("auth config: JWKSURL is not a URL")
		}
		if err := checkJWKSURL(u); err != nil {
			return fmt.Errorf("auth config: JWKSURL: %w", err)
		}
	}
	switch {
	case c.ClockSkew < 0 || c.ClockSkew > maxClockSkew:
		return fmt.Errorf("auth config: ClockSkew %s is not between 0 and %s", c.ClockSkew, maxClockSkew)
	case c.JWKSRefresh < time.Second:
		return fmt.Errorf("auth config: JWKSRefresh %s is shorter than 1s", c.JWKSRefresh)
	case c.SessionSecretRefresh < 0:
		return fmt.Errorf("auth config: SessionSecretRefresh %s is negative", c.SessionSecretRefresh)
	case c.SessionSecretSource != nil && len(c.SessionSecret) == 0:
		return errors.New("auth config: SessionSecretSource needs the first SessionSecret")
	case slices.Contains([]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}, c.GroupsClaim):
		return fmt.Errorf("auth config: GroupsClaim %q is a registered claim, not a list of groups", c.GroupsClaim)
	case strings.HasPrefix(c.AdminGroup, "group:"):
		return fmt.Errorf("auth config: AdminGroup %q: give the group's name without \"group:\"", c.AdminGroup)
	case c.WidgetAudience != "" && c.WidgetAudience == c.Audience:
		return fmt.Errorf("auth config: WidgetAudience %q is also Audience: widget JWTs must be told apart from the others", c.WidgetAudience)
	}
	for _, o := range c.WidgetOrigins {
		if n, err := KeyOrigin(o); err != nil || n != o {
			return fmt.Errorf("auth config: WidgetOrigins: %q is not an origin in its normal form (%s)", o, cmp.Or(n, "invalid"))
		}
	}
	if c.AdminGroup != "" {
		if err := acl.Validate("group:" + c.AdminGroup); err != nil {
			return fmt.Errorf("auth config: AdminGroup: %w", err)
		}
	}
	return nil
}

// Authenticator authenticates requests. It is safe for concurrent use. Close it at shutdown
// to write the last API key uses and stop refreshing the JWKS.
type Authenticator struct {
	cfg    Config
	keys   KeyStore
	logger *slog.Logger
	secret []byte // HS256; nil when not configured
	// sessionSecret signs end-user sessions; nil when not configured. Replaced by
	// refreshSessionSecret when Config.SessionSecretSource is set.
	sessionSecret atomic.Pointer[[]byte]
	secretDone    chan struct{} // closed when the session secret's refresher has stopped
	jwks          *jwks         // RS256, ES256; nil when not configured
	algs          []string      // the JWT algorithms accepted
	parser        *jwt.Parser
	usage         *usage

	stop      context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

// New returns an Authenticator. With a JWKSURL it fetches the key set before returning, under
// ctx, and fails if it cannot; background work (refreshing it, recording API key use) runs
// until Close.
func New(ctx context.Context, cfg Config, keys KeyStore, logger *slog.Logger) (*Authenticator, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, errors.New("auth: no KeyStore")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	a := &Authenticator{cfg: cfg, keys: keys, logger: logger, algs: []string{}, stop: stop}
	if len(cfg.SessionSecret) > 0 {
		secret := slices.Clone(cfg.SessionSecret)
		a.sessionSecret.Store(&secret)
	}
	if cfg.SessionSecretSource != nil {
		a.secretDone = make(chan struct{})
		go a.refreshSessionSecret(life)
	}
	if len(cfg.JWTSecret) > 0 {
		a.secret = slices.Clone(cfg.JWTSecret)
		a.algs = append(a.algs, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSURL != "" {
		var err error
		if a.jwks, err = newJWKS(ctx, life, cfg.JWKSURL, cfg.JWKSRefresh, cfg.Now, logger); err != nil {
			stop()
			return nil, fmt.Errorf("auth: %w", err)
		}
		a.algs = append(a.algs, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
		if cfg.Audience == "" {
			logger.WarnContext(ctx, "auth: JWKS configured without an audience: tokens the identity provider issues for any application are accepted")
		}
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods(a.algs), // checked again, per key, in verificationKey
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.ClockSkew),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)
	a.usage = newUsage(life, keys, cfg.Now, logger)
	return a, nil
}

// Authenticate returns the caller of a request given its Authorization header (empty when the
// request has none). A refusal is an *Error, which the HTTP layer answers with 401; any other
// error (the key store failed, ctx ended) is not the caller's fault.
//
// A present but failing header is always refused, never downgraded to anonymous.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (Principal, error) {
	authorization = strings.TrimSpace(authorization)
	if authorization == "" {
		if a.cfg.AllowAnonymous {
			return Principal{Kind: KindAnonymous, Principals: []string{acl.Public}}, nil
		}
		return Principal{}, refuse(ReasonMissingToken)
	}
	if len(authorization) > maxHeader {
		return Principal{}, refuse(ReasonMalformed)
	}
	scheme, token, _ := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, refuse(ReasonMalformed)
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return Principal{}, refuse(ReasonMissingToken)
	}
	switch {
	case strings.HasPrefix(token, KeyPrefix):
		return a.authenticateKey(ctx, token, KeyPrefix)
	case strings.HasPrefix(token, WidgetKeyPrefix):
		return a.authenticateKey(ctx, token, WidgetKeyPrefix)
	case strings.HasPrefix(token, SessionPrefix):
		return a.authenticateSession(ctx, token)
	}
	return a.authenticateJWT(ctx, token)
}

func (a *Authenticator) authenticateKey(ctx context.Context, key, kindPrefix string) (Principal, error) {
	if !wellFormed(key, kindPrefix) {
		return Principal{}, a.refused(ctx, ReasonMalformed, nil)
	}
	hash := HashKey(key)
	k, err := a.keys.APIKeyByHash(ctx, hash)
	if errors.Is(err, index.ErrNotFound) {
		return Principal{}, a.refused(ctx, ReasonUnknownKey, nil)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate API key: %w", err)
	}
	// The store looked the key up by its hash; check that it is the very key, in constant
	// time, rather than trust how the store matched.
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 {
		return Principal{}, a.refused(ctx, ReasonUnknownKey, nil)
	}
	if k.RevokedAt != nil {
		return Principal{}, a.refused(ctx, ReasonRevoked, nil)
	}
	// A key is of the kind its prefix says, or it is refused: a publishable "dpk_" key is
	// never a secret key, whatever the database says.
	wantWidget := kindPrefix == WidgetKeyPrefix
	if wantWidget != (k.Kind == index.KindWidget) {
		return Principal{}, a.refused(ctx, ReasonUnknownKey, errors.New("key prefix and kind disagree"))
	}
	a.usage.record(k.ID)
	p := Principal{Subject: k.Name, KeyID: k.ID}
	switch k.Kind {
	case index.KindSecret:
		p.Kind = KindAPIKey
		p.Principals = principalSet(ctx, a.logger, slog.LevelWarn, "api key "+k.Name, k.Principals)
		p.Admin = k.Role == index.RoleAdmin
	case index.KindWidget:
		p.Kind = KindWidgetKey
		p.Principals = principalSet(ctx, a.logger, slog.LevelWarn, "api key "+k.Name, k.Principals)
		p.Origins = slices.Clone(k.Origins)
	case index.KindSessionIssuer:
		// It reads nothing itself: it only mints sessions within its grants.
		p.Kind = KindSessionIssuer
		p.Principals = []string{acl.Public}
		p.Grants = slices.Clone(k.Principals)
		p.UserDomain = k.UserDomain
		p.Origins = slices.Clone(k.Origins)
	default:
		return Principal{}, a.refused(ctx, ReasonUnknownKey, fmt.Errorf("key kind %q", k.Kind))
	}
	return p, nil
}

var (
	errUnsupportedAlg = errors.New("signing algorithm not accepted")
	errCritical       = errors.New("critical header parameters are not supported")
	errBadKID         = errors.New("kid is not a string")
)

func (a *Authenticator) authenticateJWT(ctx context.Context, raw string) (Principal, error) {
	if err := checkSegments(raw); err != nil {
		reason := ReasonMalformed
		if errors.Is(err, errDuplicateKey) {
			reason = ReasonDuplicateKey
		}
		return Principal{}, a.refused(ctx, reason, err)
	}
	claims := jwt.MapClaims{}
	tok, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		return a.verificationKey(ctx, t)
	})
	if err != nil {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return Principal{}, fmt.Errorf("authenticate JWT: %w", ctx.Err())
		}
		return Principal{}, a.refused(ctx, a.jwtReason(tok, err), err)
	}
	if a.cfg.Issuer != "" {
		iss, err := claims.GetIssuer()
		if err != nil {
			return Principal{}, a.refused(ctx, ReasonMalformed, err)
		}
		if iss != a.cfg.Issuer {
			return Principal{}, a.refused(ctx, ReasonWrongIssuer, nil)
		}
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return Principal{}, a.refused(ctx, ReasonMalformed, err)
	}
	// A widget JWT is one whose audience says so, whatever else it says: it is only ever
	// bound more tightly than other JWTs, never less.
	widget := a.cfg.WidgetAudience != "" && slices.Contains(aud, a.cfg.WidgetAudience)
	if a.cfg.Audience != "" && !widget && !slices.Contains(aud, a.cfg.Audience) {
		return Principal{}, a.refused(ctx, ReasonWrongAudience, nil)
	}
	if widget {
		if len(a.cfg.WidgetOrigins) == 0 {
			return Principal{}, a.refused(ctx, ReasonWidgetJWTDisabled, nil)
		}
		// At most MaxSessionTTL left to live, whatever its iat says: a token handed to a web
		// page is worth no more, stolen, than an end-user session.
		exp, err := claims.GetExpirationTime()
		if err != nil || exp == nil {
			return Principal{}, a.refused(ctx, ReasonMalformed, err)
		}
		if exp.After(a.cfg.Now().Add(MaxSessionTTL + a.cfg.ClockSkew)) {
			return Principal{}, a.refused(ctx, ReasonWidgetLifetime, nil)
		}
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return Principal{}, a.refused(ctx, ReasonMalformed, err)
	}
	if sub == "" {
		return Principal{}, a.refused(ctx, ReasonMissingClaim, errors.New("no sub"))
	}

	// Each identity in its one spelling, or the token is refused: never folded onto another.
	user, err := acl.CanonicalName(sub)
	if err != nil {
		return Principal{}, a.refusedClaim(ctx, ReasonNonCanonical, "sub", err)
	}
	tags := []string{"user:" + user}
	for _, g := range a.groups(ctx, claims) {
		name, err := acl.CanonicalName(g)
		if err != nil {
			return Principal{}, a.refusedClaim(ctx, ReasonNonCanonical, a.cfg.GroupsClaim, err)
		}
		tags = append(tags, "group:"+name)
	}
	set := principalSet(ctx, a.logger, slog.LevelDebug, "jwt", tags)
	if widget {
		return Principal{Kind: KindJWT, Subject: sub, Principals: set, WidgetJWT: true,
			Origins: slices.Clone(a.cfg.WidgetOrigins)}, nil
	}
	return Principal{
		Kind:       KindJWT,
		Subject:    sub,
		Principals: set,
		Admin:      a.cfg.AdminGroup != "" && slices.Contains(set, "group:"+a.cfg.AdminGroup),
	}, nil
}

// verificationKey pins the algorithm to the kind of key: HS256 only with the configured
// secret, RS256 and ES256 only with a JWKS key published for that algorithm. Whatever the
// token's header says, an RSA public key is never used as an HMAC secret.
func (a *Authenticator) verificationKey(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	switch t.Method {
	case jwt.SigningMethodHS256:
		if a.secret != nil {
			return a.secret, nil
		}
	case jwt.SigningMethodRS256, jwt.SigningMethodES256:
		if a.jwks != nil {
			var kid string
			if v, ok := t.Header["kid"]; ok {
				if kid, ok = v.(string); !ok {
					return nil, errBadKID
				}
			}
			return a.jwks.key(ctx, kid, t.Method.Alg())
		}
	}
	return nil, errUnsupportedAlg
}

// jwtReason classifies a JWT the parser refused.
func (a *Authenticator) jwtReason(tok *jwt.Token, err error) string {
	alg := ""
	if tok != nil {
		alg, _ = tok.Header["alg"].(string)
	}
	switch {
	case tok == nil, errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, errCritical), errors.Is(err, errBadKID):
		return ReasonMalformed
	case errors.Is(err, errUnsupportedAlg), !slices.Contains(a.algs, alg):
		return ReasonUnsupportedAlg
	case errors.Is(err, errUnknownKID):
		return ReasonUnknownKey
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ReasonBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ReasonMissingClaim
	case errors.Is(err, jwt.ErrInvalidType):
		return ReasonMalformed
	}
	return ReasonInvalidToken
}

// groups returns the groups claim: an array of strings or a single string. Anything else is
// ignored (logged at debug): a caller without groups only sees less.
func (a *Authenticator) groups(ctx context.Context, claims jwt.MapClaims) []string {
	switch v := claims[a.cfg.GroupsClaim].(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []any:
		groups := make([]string, 0, len(v))
		for _, g := range v {
			if s, ok := g.(string); ok {
				groups = append(groups, s)
			} else {
				a.logger.DebugContext(ctx, "auth: dropping a group that is not a string", "claim", a.cfg.GroupsClaim, "type", fmt.Sprintf("%T", g))
			}
		}
		return groups
	default:
		a.logger.DebugContext(ctx, "auth: ignoring a groups claim that is neither a string nor an array", "claim", a.cfg.GroupsClaim, "type", fmt.Sprintf("%T", v))
		return nil
	}
}

// refused logs a refusal at debug level, with the cause (never the token) and returns it.
func (a *Authenticator) refused(ctx context.Context, reason string, cause error) *Error {
	return a.refusedClaim(ctx, reason, "", cause)
}

// refusedClaim is refused for a refusal due to one claim, which the error names.
func (a *Authenticator) refusedClaim(ctx context.Context, reason, claim string, cause error) *Error {
	attrs := []any{"reason", reason}
	if claim != "" {
		attrs = append(attrs, "claim", claim)
	}
	if cause != nil {
		attrs = append(attrs, "err", cause)
	}
	a.logger.DebugContext(ctx, "auth: refused", attrs...)
	return &Error{Reason: reason, Claim: claim}
}

// Flush writes the API key uses recorded so far and not yet written, waiting for a write in
// progress. Close does it too; Flush is for tests and for callers that want it now.
func (a *Authenticator) Flush(ctx context.Context) error {
	return a.usage.flush(ctx)
}

// Close writes the pending API key uses and stops the background work. Authenticate keeps
// working afterwards, but no longer records key use or refreshes the JWKS. Calling Close
// again returns the first call's result.
func (a *Authenticator) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		a.closeErr = a.usage.close(ctx)
		a.stop()
		if a.secretDone != nil {
			select {
			case <-a.secretDone:
			case <-ctx.Done():
				a.closeErr = errors.Join(a.closeErr, fmt.Errorf("wait for the session secret's refresher: %w", ctx.Err()))
			}
		}
		if a.jwks != nil {
			select {
			case <-a.jwks.done:
			case <-ctx.Done():
				a.closeErr = errors.Join(a.closeErr, fmt.Errorf("wait for the JWKS refresher: %w", ctx.Err()))
			}
		}
	})
	return a.closeErr
}
