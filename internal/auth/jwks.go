package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
)

const (
	// jwksTimeout bounds one fetch of the key set.
	jwksTimeout = 10 * time.Second
	// jwksMaxBytes bounds the key set's size; real ones are a few kilobytes.
	jwksMaxBytes = 1 << 20
	// unknownKIDRefreshEvery is how often at most a token with an unknown kid makes the key
	// set be fetched again: often enough to follow a key rotation within seconds, rarely
	// enough that tokens with made-up kids cannot turn this server against the identity
	// provider.
	unknownKIDRefreshEvery = 30 * time.Second
	// RSA moduli outside these sizes are refused: below is breakable, above only costs
	// verification time (a DoS lever).
	minRSABits = 2048
	maxRSABits = 8192
)

// errUnknownKID: the token's kid is not in the key set, even after a refresh (or a refresh was
// not allowed yet).
var errUnknownKID = errors.New("no signing key with this kid")

// verifyKey is a public key from the key set, pinned to the one algorithm it may verify.
type verifyKey struct {
	kid string
	alg string // RS256 or ES256
	key crypto.PublicKey
}

// jwks is a JWKS (RFC 7517) fetched from an identity provider: refreshed every interval, and
// on demand when a token names a key it does not hold, at most every unknownKIDRefreshEvery.
// Only RSA (2048 bits or more, for RS256) and P-256 EC (for ES256) signature keys are kept.
type jwks struct {
	url    string
	client *http.Client
	now    func() time.Time
	logger *slog.Logger

	mu          sync.RWMutex
	keys        []verifyKey
	lastAttempt time.Time // of any fetch, successful or not
	started     uint64    // fetches started
	stored      uint64    // the fetch whose keys are held: an earlier one finishing late is dropped

	// flight makes concurrent requests with unknown kids share one fetch. The periodic
	// refresh stays out of it, so that it never joins an attempt that the rate limit turned
	// into a no-op; it may overlap an on-demand fetch, and started/stored keep the later.
	flight singleflight.Group
	ctx    context.Context // the Authenticator's lifetime: fetches run under it
	done   chan struct{}
}

// newJWKS fetches the key set once (an error if that fails: a wrong URL is better found at
// start-up than at the first login) and keeps it refreshed every interval until life ends.
func newJWKS(ctx, life context.Context, rawURL string, interval time.Duration, now func() time.Time, logger *slog.Logger) (*jwks, error) {
	s := &jwks{
		url: rawURL,
		client: &http.Client{
			Timeout: jwksTimeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				// A redirect must not downgrade to plain HTTP.
				return checkJWKSURL(req.URL)
			},
		},
		now:    now,
		logger: logger,
		ctx:    life,
		done:   make(chan struct{}),
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	go s.run(interval)
	return s, nil
}

func (s *jwks) run(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.refresh(s.ctx); err != nil && s.ctx.Err() == nil {
				// The keys fetched last stay in use.
				s.logger.WarnContext(s.ctx, "auth: refreshing the JWKS failed; keeping the previous keys", "err", err)
			}
		}
	}
}

// key returns the key (or keys, for a token without kid) that may verify a token with this kid
// and alg, fetching the key set again if none is known and the last fetch is long enough ago.
func (s *jwks) key(ctx context.Context, kid, alg string) (any, error) {
	if k, ok := s.find(kid, alg); ok {
		return k, nil
	}
	ch := s.flight.DoChan("unknown-kid", func() (any, error) {
		// Checked inside the flight, so that requests arriving just after a fetch do not start
		// another one.
		s.mu.RLock()
		recent := s.now().Sub(s.lastAttempt) < unknownKIDRefreshEvery
		s.mu.RUnlock()
		if recent {
			return nil, nil
		}
		err := s.refresh(s.ctx)
		if err != nil && s.ctx.Err() == nil {
			s.logger.WarnContext(s.ctx, "auth: refreshing the JWKS for an unknown kid failed; keeping the previous keys", "err", err)
		}
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if k, ok := s.find(kid, alg); ok {
		return k, nil
	}
	return nil, errUnknownKID
}

// find returns the keys for alg with this kid (any kid when kid is empty): one key, or a
// jwt.VerificationKeySet when several could have signed.
func (s *jwks) find(kid, alg string) (any, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found []jwt.VerificationKey
	for _, k := range s.keys {
		if k.alg == alg && (kid == "" || k.kid == kid) {
			found = append(found, k.key)
		}
	}
	switch len(found) {
	case 0:
		return nil, false
	case 1:
		return found[0], true
	default:
		return jwt.VerificationKeySet{Keys: found}, true
	}
}

// refresh fetches the key set and replaces the held keys with it. On failure, or when it holds
// no usable key, the held keys stay.
func (s *jwks) refresh(ctx context.Context) error {
	s.mu.Lock()
	s.lastAttempt = s.now()
	s.started++
	seq := s.started
	s.mu.Unlock()
	keys, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if seq > s.stored {
		s.keys, s.stored = keys, seq
	}
	s.mu.Unlock()
	return nil
}

func (s *jwks) fetch(ctx context.Context) ([]verifyKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS from %s: HTTP status %s", s.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS from %s: read: %w", s.url, err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("fetch JWKS from %s: larger than %d bytes", s.url, jwksMaxBytes)
	}
	keys, err := s.parse(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("JWKS from %s: %w", s.url, err)
	}
	return keys, nil
}

// jwk is the JSON of one key (RFC 7517, 7518). Only public members are read.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"` // present only in a private key, which a JWKS must never publish
}

func (s *jwks) parse(ctx context.Context, body []byte) ([]verifyKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var keys []verifyKey
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			s.logger.DebugContext(ctx, "auth: skipping a JWKS key", "index", i, "err", err)
			continue
		}
		vk, err := parseJWK(k)
		if err != nil {
			s.logger.DebugContext(ctx, "auth: skipping a JWKS key", "index", i, "kid", k.Kid, "kty", k.Kty, "err", err)
			continue
		}
		keys = append(keys, vk)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("none of its %d keys is an RS256 or ES256 signature key", len(set.Keys))
	}
	return keys, nil
}

// parseJWK returns the public key of k pinned to its algorithm, or why it cannot be used.
func parseJWK(k jwk) (verifyKey, error) {
	switch {
	case k.D != "":
		return verifyKey{}, errors.New("the key set publishes private key material")
	case k.Use != "" && k.Use != "sig":
		return verifyKey{}, fmt.Errorf("use %q is not sig", k.Use)
	case len(k.KeyOps) > 0 && !slices.Contains(k.KeyOps, "verify"):
		return verifyKey{}, fmt.Errorf("key_ops %q do not include verify", k.KeyOps)
	}
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != "RS256" {
			return verifyKey{}, fmt.Errorf("alg %q is not RS256", k.Alg)
		}
		n, err := decodeMember("n", k.N)
		if err != nil {
			return verifyKey{}, err
		}
		e, err := decodeMember("e", k.E)
		if err != nil {
			return verifyKey{}, err
		}
		mod := new(big.Int).SetBytes(n)
		if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
			return verifyKey{}, fmt.Errorf("RSA modulus of %d bits is outside %d..%d", bits, minRSABits, maxRSABits)
		}
		exp := new(big.Int).SetBytes(e)
		if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 || exp.Bit(0) == 0 {
			return verifyKey{}, errors.New("RSA exponent is not an odd number from 3 to 2^31-1")
		}
		return verifyKey{kid: k.Kid, alg: "RS256", key: &rsa.PublicKey{N: mod, E: int(exp.Int64())}}, nil
	case "EC":
		if k.Crv != "P-256" {
			return verifyKey{}, fmt.Errorf("curve %q is not P-256", k.Crv)
		}
		if k.Alg != "" && k.Alg != "ES256" {
			return verifyKey{}, fmt.Errorf("alg %q is not ES256", k.Alg)
		}
		x, err := decodeMember("x", k.X)
		if err != nil {
			return verifyKey{}, err
		}
		y, err := decodeMember("y", k.Y)
		if err != nil {
			return verifyKey{}, err
		}
		if len(x) != 32 || len(y) != 32 {
			return verifyKey{}, errors.New("P-256 coordinates must be 32 bytes each")
		}
		// Checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
		if err != nil {
			return verifyKey{}, fmt.Errorf("EC key: %w", err)
		}
		return verifyKey{kid: k.Kid, alg: "ES256", key: pub}, nil
	default:
		return verifyKey{}, fmt.Errorf("key type %q is not RSA or EC", k.Kty)
	}
}

func decodeMember(name, v string) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("member %q is missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("member %q is not unpadded base64url", name)
	}
	return b, nil
}

// checkJWKSURL refuses key sets fetched over plain HTTP, which anyone on the path could
// replace with their own keys, except from the loopback interface (tests, a local IdP).
func checkJWKSURL(u *url.URL) error {
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s is not an https URL (plain http is allowed only for localhost)", u.Redacted())
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
