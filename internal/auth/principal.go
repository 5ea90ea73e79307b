package auth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"slices"
	"strconv"

	"github.com/docent-rag/docent/internal/acl"
)

// Kinds of Principal.
const (
	KindAPIKey    = "api_key"
	KindJWT       = "jwt"
	KindAnonymous = "anonymous"
	// KindWidgetKey is a publishable widget key: accepted only from its Origins, on the
	// widget's routes (internal/api decides which).
	KindWidgetKey = "widget_key"
	// KindSessionIssuer is a key that may only mint end-user sessions (IssueSession).
	KindSessionIssuer = "session_issuer"
	// KindSession is an end-user session minted by an issuer: its principals come from the
	// signed token only; accepted only from its Origins, on the widget's routes.
	KindSession = "widget_session"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind    string // KindAPIKey, KindJWT or KindAnonymous
	Subject string // the API key's name or the JWT's sub, as given; empty when anonymous
	// Principals are the permission tags the caller matches: always "public", sorted, without
	// duplicates, each valid under acl.Validate.
	Principals []string
	Admin      bool
	KeyID      int64 // the API key's id (the issuer's, for a session); 0 for other kinds
	// Origins are the browser origins a widget key or session is accepted from (normalised,
	// see RequestOrigin), and those an issuer's sessions are bound to; empty for other kinds.
	Origins []string
	// Grants are the groups ("group:<name>") an issuer may grant its users, and UserDomain the
	// domain their ids must end with ("*": any); empty for other kinds.
	Grants     []string
	UserDomain string
}

// BrowserBound reports whether the caller may only call from its Origins, on the widget's
// routes: a widget key or an end-user session.
func (p Principal) BrowserBound() bool {
	return p.Kind == KindWidgetKey || p.Kind == KindSession
}

// Hash is the SHA-256 of the principal set and of nothing else (not the kind, the subject or
// the admin flag): two callers who may see the same chunks get the same hash, so it keys
// caches of retrieval results and identifies the caller in traces without naming them. The
// set is sorted and deduplicated first, and each tag is preceded by its length as 4 bytes
// big-endian, so that no two sets share an encoding whatever their tags contain.
func (p Principal) Hash() []byte {
	set := slices.Clone(p.Principals)
	slices.Sort(set)
	set = slices.Compact(set)
	h := sha256.New()
	var buf []byte
	for _, tag := range set {
		buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(tag)))
		buf = append(buf, tag...)
		h.Write(buf)
	}
	return h.Sum(nil)
}

// CallerHash is the SHA-256 of who the caller is, for binding what a caller owns (its
// answers' feedback) to it alone: an API key by its id (a name may be reused once revoked),
// a JWT by its subject (tokens come from one issuer), a publishable widget key by its id
// (every browser carrying it is the same caller), an end-user session by its issuer key's id
// and its user (two issuers may name the same user; neither may act for the other's). Each
// part is preceded by its length, as in Hash. nil for anonymous callers, and for a JWT
// without a subject: they have no identity to own anything with.
func (p Principal) CallerHash() []byte {
	parts := p.identity()
	if parts == nil {
		return nil
	}
	h := sha256.New()
	var buf []byte
	for _, s := range parts {
		buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(s)))
		buf = append(buf, s...)
		h.Write(buf)
	}
	return h.Sum(nil)
}

// identity returns the parts that name the caller (CallerHash), nil when it has none.
func (p Principal) identity() []string {
	switch {
	case p.Kind == KindAPIKey && p.KeyID > 0:
		return []string{KindAPIKey, strconv.FormatInt(p.KeyID, 10)}
	case p.Kind == KindJWT && p.Subject != "":
		return []string{KindJWT, p.Subject}
	case p.Kind == KindWidgetKey && p.KeyID > 0:
		return []string{KindWidgetKey, strconv.FormatInt(p.KeyID, 10)}
	case p.Kind == KindSession && p.KeyID > 0 && p.Subject != "":
		return []string{KindSession, strconv.FormatInt(p.KeyID, 10), p.Subject}
	}
	return nil
}

// principalSet returns "public" and the valid, canonical tags among tags (acl.Validate), sorted
// and without duplicates. Any other tag is dropped and logged, never an error: dropping one
// only takes access away.
func principalSet(ctx context.Context, logger *slog.Logger, level slog.Level, source string, tags []string) []string {
	set := make([]string, 0, len(tags)+1)
	set = append(set, acl.Public)
	for _, tag := range tags {
		if err := acl.Validate(tag); err != nil {
			logger.Log(ctx, level, "auth: dropping invalid permission tag", "source", source, "err", err)
			continue
		}
		set = append(set, tag)
	}
	slices.Sort(set)
	return slices.Compact(set)
}
