package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %q", path, rec.Body.String())
	}
	return rec.Code, body
}

// newBare returns the API with only a database: enough for the operational endpoints.
func newBare(t *testing.T, db interface {
	index.DBTX
	index.Beginner
}) http.Handler {
	t.Helper()
	h, err := api.New(api.Config{}, db, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func errorBody(code, message string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": message}}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	h := newBare(t, db.Pool)

	if code, body := get(t, h, "/healthz"); code != http.StatusOK || body["status"] != "ok" {
		t.Errorf("GET /healthz = %d %v", code, body)
	}
	code, body := get(t, h, "/readyz")
	want := errorBody("not_ready", "no active index generation: ingest documents first (`ingest run`)")
	if diff := cmp.Diff(want, body); code != http.StatusServiceUnavailable || diff != "" {
		t.Errorf("GET /readyz without a generation = %d (-want +got):\n%s", code, diff)
	}

	// An active generation makes the server ready.
	chunking, err := index.EnsureChunking(ctx, db.Pool, map[string]int{"max_tokens": 512}, "english")
	if err != nil {
		t.Fatal(err)
	}
	var g index.Generation
	err = index.InTx(ctx, db.Pool, func(tx pgx.Tx) error {
		g, err = index.CreateGeneration(ctx, tx, index.GenerationSpec{ChunkingID: chunking, Embedder: "test", Model: "m", Dimension: 3})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := index.BuildVectorIndex(ctx, db.Pool, g.ID); err != nil {
		t.Fatal(err)
	}
	if err := index.Activate(ctx, db.Pool, g.ID); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, "/readyz"); code != http.StatusOK || body["status"] != "ready" || body["generation"] != float64(g.ID) {
		t.Errorf("GET /readyz with an active generation = %d %v", code, body)
	}

	// A schema this binary does not know makes it unready, saying why.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO `+index.MigrationsTable+` (version_id, is_applied) VALUES (9999, true)`); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, "/readyz"); code != http.StatusServiceUnavailable || body["error"].(map[string]any)["code"] != "not_ready" {
		t.Errorf("GET /readyz on a newer schema = %d %v", code, body)
	}
}

func TestReadinessHidesDatabaseErrors(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	h := newBare(t, db.Pool)
	db.Pool.Close()
	code, body := get(t, h, "/readyz")
	if diff := cmp.Diff(errorBody("not_ready", "database unavailable"), body); code != http.StatusServiceUnavailable || diff != "" {
		t.Errorf("GET /readyz with the database gone = %d (-want +got):\n%s", code, diff)
	}
}

func TestUnknownRouteIsJSON(t *testing.T) {
	t.Parallel()
	h := newBare(t, nil)
	code, body := get(t, h, "/nope")
	if diff := cmp.Diff(errorBody("not_found", "Not Found"), body); code != http.StatusNotFound || diff != "" {
		t.Errorf("GET /nope = %d (-want +got):\n%s", code, diff)
	}
}
