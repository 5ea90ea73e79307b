package auth

// Reasons an authentication fails: the Reason of an *Error. They are stable: clients and
// logs may match on them.
const (
	ReasonMissingToken   = "missing_token"   // no credentials, and anonymous access is off
	ReasonMalformed      = "malformed"       // not "Bearer <token>", or a token that does not parse
	ReasonExpired        = "expired"         // exp has passed (beyond the clock skew)
	ReasonNotYetValid    = "not_yet_valid"   // nbf or iat is in the future (beyond the clock skew)
	ReasonMissingClaim   = "missing_claim"   // exp or sub is missing
	ReasonBadSignature   = "bad_signature"   // the signature does not verify
	ReasonWrongAudience  = "wrong_audience"  // aud does not name this service
	ReasonWrongIssuer    = "wrong_issuer"    // iss is not the configured issuer
	ReasonRevoked        = "revoked"         // the API key was revoked
	ReasonUnknownKey     = "unknown_key"     // no such API key, or no signing key with the token's kid
	ReasonUnsupportedAlg = "unsupported_alg" // a signing algorithm this server does not accept
	ReasonInvalidToken   = "invalid_token"   // any other refusal
	// ReasonNonCanonical: the sub or a group could be turned into another identity by Unicode
	// case mapping, folding or normalisation (see acl.CanonicalName).
	ReasonNonCanonical = "non_canonical_identity"
	// ReasonDuplicateKey: the token's header or claims repeat a key in a JSON object.
	ReasonDuplicateKey = "duplicate_key"
	// ReasonWidgetLifetime: a widget JWT (Config.WidgetAudience) expires more than
	// MaxSessionTTL from now.
	ReasonWidgetLifetime = "widget_token_lifetime"
	// ReasonWidgetJWTDisabled: a widget JWT reached a server that lists no origin for them.
	ReasonWidgetJWTDisabled = "widget_jwt_disabled"
)

// messages are what a client is told. They name the problem and nothing else: no token, no
// key material, no library or database error text.
var messages = map[string]string{
	ReasonMissingToken:   "authentication required: send Authorization: Bearer <token>",
	ReasonMalformed:      "the Authorization header or its token is malformed",
	ReasonExpired:        "the token has expired",
	ReasonNotYetValid:    "the token is not valid yet",
	ReasonMissingClaim:   "the token lacks a required claim",
	ReasonBadSignature:   "the token's signature is invalid",
	ReasonWrongAudience:  "the token is not meant for this service",
	ReasonWrongIssuer:    "the token's issuer is not trusted",
	ReasonRevoked:        "the API key has been revoked",
	ReasonUnknownKey:     "the API key or signing key is unknown",
	ReasonUnsupportedAlg: "the token's signing algorithm is not accepted",
	ReasonInvalidToken:   "the token is invalid",
	ReasonNonCanonical: "the token's identity is not canonical: a character that case mapping, case folding or " +
		"Unicode normalisation would change (such as KELVIN SIGN, a fullwidth letter or a decomposed accent), " +
		"a capital letter outside ASCII, or a character that is not a letter, digit or mark",
	ReasonDuplicateKey:      "the token's header or claims contain a key twice",
	ReasonSessionsDisabled:  "end-user sessions are not enabled on this server",
	ReasonIssuerRevoked:     "the session's issuer key has been revoked",
	ReasonWidgetLifetime:    "a widget JWT must expire within 15 minutes: sign a new one for each session URL request",
	ReasonWidgetJWTDisabled: "widget JWTs are not accepted: the server lists no origin for them (DOCENT_CORS_ORIGINS)",
}

// Error is a refused authentication. Its text is safe to show to the client, and the HTTP
// layer answers it with 401. Any other error from Authenticate (the key store failing, the
// request being cancelled) is not the caller's fault and must not be answered with 401.
type Error struct {
	Reason string // one of the Reason constants
	Claim  string // the claim at fault, when one is (ReasonNonCanonical)
}

func (e *Error) Error() string {
	msg, ok := messages[e.Reason]
	if !ok {
		msg = messages[ReasonInvalidToken]
	}
	if e.Claim != "" {
		msg += " (claim " + e.Claim + ")"
	}
	return "authentication failed: " + msg
}

func refuse(reason string) *Error { return &Error{Reason: reason} }
