package retrieve_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/reindex"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/dbtest/tcpproxy"
)

// replicaCorpus is a folder ingested into db, which put changes and ingests again.
type replicaCorpus struct {
	db  *dbtest.DB
	dir string
	emb *embed.Builtin
}

func (c *replicaCorpus) put(t *testing.T, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(c.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := ingest.New(ingest.Config{Source: "test", Roots: []string{c.dir}, Prune: true}, c.db.Pool, c.emb, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := in.Run(context.Background()); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest: %v %+v", err, s.Failures)
	}
}

// replicas returns the replicas at urls of db's primary, once the first is in use.
func replicas(t *testing.T, db *dbtest.DB, cfg index.ReplicaConfig, urls ...string) *index.Replicas {
	t.Helper()
	rs, err := index.NewReplicas(db.Pool, urls, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	waitInUse(t, rs)
	return rs
}

func waitInUse(t *testing.T, rs *index.Replicas) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for rs.Check(context.Background()); !rs.Status()[0].InUse; rs.Check(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatalf("replica not in use: %+v", rs.Status()[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func generationEmbedders(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
	return embed.NewBuiltin(embed.BuiltinConfig{Dimension: g.Dimension})
}

func chunkIDs(res *retrieve.Result) []int64 {
	var ids []int64
	for _, it := range res.Evidence {
		ids = append(ids, it.ChunkID)
	}
	return ids
}

// TestReadsFromAReplica: a Read is served by a replica that has the primary's generation and
// is within the maximum lag, with the primary's evidence; each request checks both itself
// (the checks of the background loop are not run here after the start, so a request is
// given the replica every time and must refuse it itself), and falls back to the primary,
// never failing, when the replica lags, lacks the new generation, stops, or hangs.
func TestReadsFromAReplica(t *testing.T) {
	standby := dbtest.TestStandby(t)
	ctx := context.Background()
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := &replicaCorpus{db: dbtest.New(t), dir: t.TempDir(), emb: emb}
	c.put(t, map[string]string{
		"a/.docent-acl": "group:a\n",
		"a/station.md":  "# Kestrel station\n\nThe orbital station Kestrel docks cargo ships every Tuesday at noon.\n",
		"p/.docent-acl": "public\n",
		"p/garden.md":   "# Garden\n\nThe roof garden grows tomatoes and basil through the summer.\n",
	})
	standby.CatchUp(t, c.db)
	const maxLag = time.Second
	rs := replicas(t, c.db, index.ReplicaConfig{MaxLag: maxLag}, standby.URL(c.db))
	r, err := retrieve.New(retrieve.Config{Replicas: rs, GenerationTTL: 10 * time.Millisecond, Embedders: generationEmbedders},
		c.db.Pool, emb, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	req := retrieve.Request{Query: "Kestrel cargo ships", Principals: []string{"group:a"}}
	// The primary is sampled before each request, as the loop does every Interval; the
	// replica is not checked again.
	read := func(r *retrieve.Retriever) *retrieve.Result {
		t.Helper()
		r.Config().Replicas.Sample(ctx)
		res, err := r.Read().Retrieve(ctx, req)
		if err != nil {
			t.Fatalf("retrieve: %v", err)
		}
		return res
	}
	primary, err := r.Retrieve(ctx, req)
	if err != nil || len(primary.Evidence) == 0 {
		t.Fatalf("on the primary: %v, %d items", err, len(primary.Evidence))
	}

	// From the replica: the primary's evidence, under the replica's version.
	res := read(r)
	if res.Database != "replica1" || res.Version.Database != "replica1" || res.ReplicaSkipped != "" {
		t.Fatalf("served by %q (version of %q, skipped %q), want replica1", res.Database, res.Version.Database, res.ReplicaSkipped)
	}
	if !slices.Equal(chunkIDs(res), chunkIDs(primary)) {
		t.Errorf("the replica found %v, the primary %v", chunkIDs(res), chunkIDs(primary))
	}

	// Lagging: replay paused, the document re-tagged away from group:a on the primary. Past
	// the maximum lag the primary serves, and its version is the one returned.
	standby.Pause(t)
	c.put(t, map[string]string{"a/.docent-acl": "group:b\n"})
	now, err := r.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(maxLag + 200*time.Millisecond)
	res = read(r)
	if res.Database != retrieve.Primary || res.ReplicaSkipped != index.ReplicaLagging || res.Version.Corpus != now.Corpus {
		t.Fatalf("lagging replica: served by %q (skipped %q) at corpus %d, want the primary (lagging) at %d",
			res.Database, res.ReplicaSkipped, res.Version.Corpus, now.Corpus)
	}
	if len(res.Evidence) != 0 {
		t.Errorf("group:a still finds %v after the re-tag", chunkIDs(res))
	}
	standby.Resume(t)
	standby.CatchUp(t, c.db)
	if res = read(r); res.Database != "replica1" || len(res.Evidence) != 0 || res.Version.Corpus != now.Corpus {
		t.Fatalf("caught up: served by %q with %v at corpus %d, want replica1 with nothing at %d",
			res.Database, chunkIDs(res), res.Version.Corpus, now.Corpus)
	}
	c.put(t, map[string]string{"a/.docent-acl": "group:a\n"})
	standby.CatchUp(t, c.db)

	// A cutover the replica has not replayed: however small its lag, it is not used once the
	// primary's new generation is seen, and is again when it has the generation.
	patient := replicas(t, c.db, index.ReplicaConfig{MaxLag: time.Minute}, standby.URL(c.db))
	r2, err := retrieve.New(retrieve.Config{Replicas: patient, GenerationTTL: 10 * time.Millisecond, Embedders: generationEmbedders},
		c.db.Pool, emb, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	old := read(r2)
	if old.Database != "replica1" {
		t.Fatalf("before the cutover: served by %q", old.Database)
	}
	standby.Pause(t)
	small, err := embed.NewBuiltin(embed.BuiltinConfig{Dimension: 64})
	if err != nil {
		t.Fatal(err)
	}
	cut, err := reindex.Run(ctx, c.db.Pool, reindex.Config{Embedder: small, Embedders: generationEmbedders}, quiet)
	if err != nil || !cut.Activated {
		t.Fatalf("reindex: %v", err)
	}
	time.Sleep(20 * time.Millisecond) // the retriever's GenerationTTL
	res = read(r2)
	if res.Database != retrieve.Primary || res.ReplicaSkipped != index.ReplicaGeneration || res.Generation != cut.Generation.ID {
		t.Fatalf("after the cutover: served by %q (skipped %q) from generation %d, want the primary's new generation %d",
			res.Database, res.ReplicaSkipped, res.Generation, cut.Generation.ID)
	}
	standby.Resume(t)
	standby.CatchUp(t, c.db)
	if res = read(r2); res.Database != "replica1" || res.Generation != cut.Generation.ID || res.Version.Generation != cut.Generation.ID {
		t.Fatalf("caught up: served by %q from generation %d, want replica1 and %d", res.Database, res.Generation, cut.Generation.ID)
	}

	// Stopped: the request given it is served by the primary; the replica is left until a
	// check finds it back.
	standby.Stop(t)
	for i := range 3 {
		res = read(r)
		if res.Database != retrieve.Primary || len(res.Evidence) == 0 {
			t.Fatalf("request %d with the replica stopped: served by %q with %d items", i, res.Database, len(res.Evidence))
		}
		if i == 0 && res.ReplicaSkipped != index.ReplicaFailed {
			t.Errorf("the first request skipped the replica for %q, want %q", res.ReplicaSkipped, index.ReplicaFailed)
		}
	}
	if st := rs.Status()[0]; st.InUse || st.Reason != index.ReplicaFailed {
		t.Errorf("after a failed request: %+v, want skipped as failed", st)
	}
	standby.Start(t)
	waitInUse(t, rs)
	if res = read(r); res.Database != "replica1" {
		t.Fatalf("started again: served by %q", res.Database)
	}

	// Hanging (bytes stop flowing, nothing is closed): bounded by the version read's Timeout,
	// or by QueryTimeout once the retrieval has begun on it, then the primary serves.
	proxy, proxied := tcpproxy.For(t, standby.URL(c.db))
	hung := replicas(t, c.db, index.ReplicaConfig{MaxLag: time.Minute, Timeout: 300 * time.Millisecond,
		QueryTimeout: 500 * time.Millisecond}, proxied)
	r3, err := retrieve.New(retrieve.Config{Replicas: hung, Embedders: generationEmbedders}, c.db.Pool, emb, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	if res = read(r3); res.Database != "replica1" {
		t.Fatalf("through the proxy: served by %q", res.Database)
	}
	rd := r3.Read()
	if v, err := rd.Version(ctx); err != nil || v.Database != "replica1" {
		t.Fatalf("version: %+v, %v", v, err)
	}
	proxy.Hold()
	start := time.Now()
	res, err = rd.Retrieve(ctx, req)
	if err != nil {
		t.Fatalf("hung during retrieval: %v", err)
	}
	if res.Database != retrieve.Primary || len(res.Evidence) == 0 {
		t.Fatalf("hung during retrieval: served by %q with %d items, want the primary", res.Database, len(res.Evidence))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a hung replica held the request for %s", took)
	}
	waitStatusNot(t, hung)
	proxy.Release()
}

// waitStatusNot waits until the first replica of rs is skipped.
func waitStatusNot(t *testing.T, rs *index.Replicas) {
	t.Helper()
	if st := rs.Status()[0]; st.InUse {
		t.Errorf("still in use after a failed request: %+v", st)
	}
}
