package auth_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docent-rag/docent/internal/auth"
)

// A JWT whose audience is the widget's is bound like an end-user session: browser-bound to
// the configured origins, never admin, and refused when it lives more than 15 minutes from
// now. Other JWTs are as before.
func TestWidgetJWT(t *testing.T) {
	t.Parallel()
	clock := newClock()
	origins := []string{"https://intranet.example"}
	a := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, Audience: "docent", AdminGroup: "admins",
		WidgetAudience: "docent-widget", WidgetOrigins: origins, Now: clock.Now}, nil, nil)
	token := func(aud any, ttl time.Duration) string {
		return mint(t, jwt.SigningMethodHS256, hmacKey, "", jwt.MapClaims{"sub": "ana", "groups": []string{"admins"},
			"aud": aud, "iat": clock.Now().Unix(), "exp": clock.Now().Add(ttl).Unix()})
	}

	p, err := a.Authenticate(context.Background(), "Bearer "+token("docent-widget", 15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !p.WidgetJWT || !p.BrowserBound() || p.Admin || !slices.Equal(p.Origins, origins) || p.Kind != auth.KindJWT ||
		!slices.Equal(p.Principals, []string{"group:admins", "public", "user:ana"}) {
		t.Errorf("widget JWT: %+v, want browser-bound to %v, not admin", p, origins)
	}
	p, err = a.Authenticate(context.Background(), "Bearer "+token("docent", time.Hour))
	if err != nil || p.WidgetJWT || p.BrowserBound() || !p.Admin || len(p.Origins) > 0 {
		t.Errorf("ordinary JWT: %+v %v, want it unchanged (admin, not browser-bound)", p, err)
	}

	for name, tc := range map[string]struct {
		tok, reason string
	}{
		"16 minutes":     {token("docent-widget", 16*time.Minute), auth.ReasonWidgetLifetime},
		"both audiences": {token([]string{"docent", "docent-widget"}, time.Hour), auth.ReasonWidgetLifetime},
		"other audience": {token("another-app", 10*time.Minute), auth.ReasonWrongAudience},
	} {
		if _, err := a.Authenticate(context.Background(), "Bearer "+tc.tok); reasonOf(err) != tc.reason {
			t.Errorf("%s: %v, want %s", name, err, tc.reason)
		}
	}

	// Without origins, no widget JWT is accepted.
	none := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, WidgetAudience: "docent-widget", Now: clock.Now}, nil, nil)
	if _, err := none.Authenticate(context.Background(), "Bearer "+token("docent-widget", time.Minute)); reasonOf(err) != auth.ReasonWidgetJWTDisabled {
		t.Errorf("no widget origins: %v, want %s", err, auth.ReasonWidgetJWTDisabled)
	}
}
