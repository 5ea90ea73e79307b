package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/reindex"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// Several server instances on one database (docs/operations.md, "Several server instances"):
// each test starts two servers in this process, each with all of its own state (answer cache,
// active generation cache, embedders, in-process limits, authenticator), on one test database.

// instanceConfig is how a server instance is started: its database settings are environment
// variables, as in production, so that a test can put a pooler or a replica between an
// instance and the database by changing them.
type instanceConfig struct {
	DatabaseURL string            // DOCENT_DATABASE_URL: the primary, or a pooler in front of it
	ReadURLs    []string          // DOCENT_DATABASE_READ_URLS: streaming replicas to read from
	Env         map[string]string // anything else
}

// instance is a running server.
type instance struct {
	name string
	url  string
	log  *lockedWriter
}

// startInstance starts a server with cfg; it stops when the test ends.
func startInstance(t *testing.T, name string, cfg instanceConfig) *instance {
	t.Helper()
	env := map[string]string{"DOCENT_GENERATOR": "extractive", "DOCENT_EMBEDDER": "builtin"}
	if len(cfg.ReadURLs) > 0 {
		env["DOCENT_DATABASE_READ_URLS"] = strings.Join(cfg.ReadURLs, ",")
	}
	maps.Copy(env, cfg.Env)
	addr, code, log := serveWith(t, cfg.DatabaseURL, env)
	if addr == "" {
		t.Fatalf("instance %s stopped (exit %d); log:\n%s", name, code, log.String())
	}
	return &instance{name: name, url: "http://" + addr, log: log}
}

// startInstances starts n instances on db with env, reading from the read replicas
// readURLs (none: from the primary).
func startInstances(t *testing.T, db *dbtest.DB, n int, env map[string]string, readURLs ...string) []*instance {
	t.Helper()
	cfg := instanceConfig{DatabaseURL: db.URL, Env: env, ReadURLs: readURLs}
	out := make([]*instance, n)
	for i := range n {
		out[i] = startInstance(t, string(rune('A'+i)), cfg)
	}
	return out
}

// call sends a request as token and returns the status and body.
func (s *instance) call(t testing.TB, method, path, token string, body any, header ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, s.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// newKey runs `server keys create` on db with args and returns the key.
func newKey(t *testing.T, db *dbtest.DB, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"keys", "create"}, args...),
		func(k string) string { return map[string]string{"DOCENT_DATABASE_URL": db.URL}[k] }, &out, &errOut)
	if code != exitOK {
		t.Fatalf("keys create %v: exit %d: %s", args, code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// topicCorpus writes n Markdown documents, each about a made-up procedure of its own, tagged
// with acl, into a new folder, and returns it with a question about each.
func topicCorpus(t *testing.T, n int, acl string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".docent-acl"), []byte(acl+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syllables := []string{"bra", "vel", "kor", "min", "tas", "dun", "lop", "zer", "quo", "fim"}
	questions := make([]string, n)
	for i := range n {
		word := syllables[i%10] + syllables[(i/10)%10] + syllables[(i/100)%10] + "ite"
		text := fmt.Sprintf("# The %s procedure\n\nThe %s procedure takes %d minutes and is run by the %s team every %d days. "+
			"Before the %s procedure, check the valves of line %d and sign the log.\n", word, word, 10+i%50, syllables[i%7], 1+i%30, word, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("doc-%03d.md", i)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		questions[i] = fmt.Sprintf("How long does the %s procedure take?", word)
	}
	return dir, questions
}

// ingestDir runs `ingest run` of source over dir on db, as cron would.
func ingestDir(t *testing.T, db *dbtest.DB, source, dir string) {
	t.Helper()
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: source, Roots: []string{dir}}, db.Pool, emb, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s, err := in.Run(context.Background())
	if err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest %s: %v (%d failed)", source, err, s.Documents.Failed)
	}
}

// servedGeneration returns the index generation that served a search on s: the one its trace
// records. adminKey must be an admin's.
func (s *instance) servedGeneration(t testing.TB, adminKey string) int {
	t.Helper()
	status, raw := s.call(t, http.MethodPost, "/v1/search", adminKey, map[string]any{"query": "procedure valves"})
	if status != http.StatusOK {
		t.Fatalf("search on %s: %d %s", s.name, status, raw)
	}
	var sr struct {
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(raw, &sr); err != nil {
		t.Fatal(err)
	}
	// Traces are written in the background: a moment may pass before it can be read.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, raw = s.call(t, http.MethodGet, "/v1/traces/"+sr.TraceID, adminKey, nil)
		if status == http.StatusOK {
			var tr struct {
				GenerationID int `json:"generation_id"`
			}
			if err := json.Unmarshal(raw, &tr); err != nil {
				t.Fatal(err)
			}
			return tr.GenerationID
		}
		if status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("trace %s on %s: %d %s", sr.TraceID, s.name, status, raw)
		}
	}
}

// generationBound is how long after a cutover commits every instance serves the new
// generation: retrieve.Config.GenerationTTL, the longest an instance keeps the active
// generation it read, and a margin for a loaded machine (the request that notices, a trace
// written in the background).
var generationBound = func() time.Duration {
	r, err := retrieve.New(retrieve.Config{}, nil, nil, nil, "", nil) // the server's defaults
	if err != nil {
		panic(err)
	}
	return r.Config().GenerationTTL + 5*time.Second
}()

// TestInstancesServeThroughAReindex: 4 clients spread over two instances ask questions while a
// reindex to another dimension builds a generation and cuts over. Not one request fails, and
// each instance serves the new generation within generationBound of the cutover.
func TestInstancesServeThroughAReindex(t *testing.T) {
	t.Parallel()
	instancesThroughAReindex(t, reindexLoad{Documents: 120})
}

// TestInstancesThroughAReplica is the "done when": 4 clients on two instances that
// read from a hot standby; the standby serves, is stopped, a reindex cuts over while it is
// down, and it is started again and serves again (after replaying the new generation). Not
// one request fails, both instances switch to the new generation within generationBound, and
// docent_reads_total shows the standby serving each instance before the stop and after the
// restart.
func TestInstancesThroughAReplica(t *testing.T) {
	standby := dbtest.TestStandby(t)
	instancesThroughAReindex(t, reindexLoad{Documents: 120, Standby: standby,
		Before: func(t *testing.T, servers []*instance) {
			if err := replicaServes(servers, 5); err != nil {
				t.Errorf("before the stop: %v", err)
			}
			standby.Stop(t)
		},
		During: func(t *testing.T, servers []*instance) {
			time.Sleep(time.Second) // under load, on the primary alone, while the reindex runs
			standby.Start(t)
			if err := replicaServes(servers, 5); err != nil {
				t.Errorf("after the restart: %v", err)
			}
		}})
}

// replicaServes waits, at most 60 s, until each instance has read at least n more times from
// its replica than when called.
func replicaServes(servers []*instance, n int) error {
	count := func(s *instance) (int, error) {
		resp, err := http.Get(s.url + "/metrics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		for _, m := range readsLine.FindAllStringSubmatch(string(raw), -1) {
			if m[1] == "replica1" {
				return strconv.Atoi(m[2])
			}
		}
		return 0, nil
	}
	for _, s := range servers {
		start, err := count(s)
		if err != nil {
			return err
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			now, err := count(s)
			if err != nil {
				return err
			}
			if now >= start+n {
				break
			}
			if time.Now().After(deadline) {
				state := ""
				if resp, err := http.Get(s.url + "/readyz"); err == nil {
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					state = string(raw)
				}
				return fmt.Errorf("instance %s read %d times from the replica in 60 s, want %d; /readyz: %s", s.name, now-start, n, state)
			}
		}
	}
	return nil
}

// reindexLoad is a run of instancesThroughAReindex.
type reindexLoad struct {
	Documents int // of the corpus, one chunk each
	// Standby, when set, is a hot standby of the test database that the instances read
	// from (DOCENT_DATABASE_READ_URLS), and that During may stop and start.
	Standby *dbtest.Standby
	// Before, when set, runs while the load goes on, before the reindex starts; During at
	// the same time as the reindex. The load stops after both. They are given the instances.
	Before, During func(t *testing.T, servers []*instance)
}

// instancesThroughAReindex runs 4 clients on two instances while a reindex cuts over (and
// run.During does its part), and checks that no request failed and that both instances
// switched to the new generation within generationBound.
func instancesThroughAReindex(t *testing.T, run reindexLoad) {
	db := dbtest.New(t)
	dir, questions := topicCorpus(t, run.Documents, "group:staff")
	ingestDir(t, db, "handbook", dir)
	old, err := index.ActiveGeneration(context.Background(), db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t, db, "--name", "load", "--principal", "group:staff")
	admin := newKey(t, db, "--name", "watch", "--principal", "group:staff", "--admin")
	env := map[string]string{"DOCENT_RATE_LIMIT": "100000", "DOCENT_RATE_BURST": "100000"}
	var readURLs []string
	if run.Standby != nil {
		run.Standby.CatchUp(t, db)
		readURLs = append(readURLs, run.Standby.URL(db))
		env["DOCENT_CACHE_SIZE"] = "0" // every request reads: from the replica, or the primary
	}
	servers := startInstances(t, db, 2, env, readURLs...)
	for _, s := range servers {
		if g := s.servedGeneration(t, admin); g != old.ID {
			t.Fatalf("%s serves generation %d before the reindex, want %d", s.name, g, old.ID)
		}
	}

	// Clients 0 and 2 ask A, 1 and 3 ask B.
	askers := []func(string) (bool, error){asker(servers[0].url, key), asker(servers[1].url, key)}
	next := 0
	var mu sync.Mutex
	ask := func(q string) (bool, error) {
		mu.Lock()
		a := askers[next%2]
		next++
		mu.Unlock()
		return a(q)
	}
	ctx, stop := context.WithCancel(context.Background())
	var result loadRun
	var wg sync.WaitGroup
	wg.Go(func() { result = loadUntil(ctx, 4, questions, ask) })

	if run.Before != nil {
		run.Before(t, servers)
	}
	var during sync.WaitGroup
	if run.During != nil {
		during.Go(func() { run.During(t, servers) })
	}
	newEmb, err := embed.NewBuiltin(embed.BuiltinConfig{Dimension: 256})
	if err != nil {
		t.Fatal(err)
	}
	res, rerr := reindex.Run(context.Background(), db.Pool, reindex.Config{Embedder: newEmb,
		Embedders: func(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
			return embed.Open(ctx, embed.Spec{Kind: g.Embedder, Model: g.Model, Dimension: g.Dimension}, embed.Providers{})
		}}, slog.New(slog.DiscardHandler))
	cutover := time.Now()
	if rerr != nil {
		during.Wait()
		stop()
		wg.Wait()
		t.Fatalf("reindex: %v", rerr)
	}
	// Each instance, watched on its own: when does it first serve the new generation?
	switched := make([]time.Duration, len(servers))
	var watch sync.WaitGroup
	for i, s := range servers {
		watch.Go(func() {
			for switched[i] = 0; time.Since(cutover) < 3*generationBound; time.Sleep(50 * time.Millisecond) {
				asked := time.Since(cutover)
				if s.servedGeneration(t, admin) == res.Generation.ID {
					switched[i] = asked
					return
				}
			}
			switched[i] = -1
		})
	}
	watch.Wait()
	time.Sleep(time.Second) // the load goes on, on the new generation
	during.Wait()
	stop()
	wg.Wait()

	if result.errors > 0 {
		t.Errorf("%d of %d requests failed during the reindex, the first: %s", result.errors, result.answers+result.refused+result.errors, result.firstError)
	}
	if result.answers == 0 {
		t.Error("no question was answered during the reindex")
	}
	for i, s := range servers {
		switch d := switched[i]; {
		case d < 0:
			t.Errorf("instance %s never served generation %d", s.name, res.Generation.ID)
		case d > generationBound:
			t.Errorf("instance %s served generation %d %s after the cutover, more than the bound %s", s.name, res.Generation.ID, d, generationBound)
		default:
			t.Logf("instance %s on generation %d %s after the cutover", s.name, res.Generation.ID, d.Round(time.Millisecond))
		}
	}
	t.Logf("%d answers, %d refusals, %d errors from 4 clients on 2 instances; p50 %.0f ms, p99 %.0f ms",
		result.answers, result.refused, result.errors, result.p50, result.p99)
}

// TestRevocationReachesEveryInstance: a key, and a session issuer's end-user sessions, work
// on both instances (a session minted by A is accepted by B: the session secret is the
// database's, not an instance's); once revoked (`server keys revoke`, on the database every
// instance uses) both instances refuse them at once, on the very next request: keys and
// issuers are looked up on every request, never cached by an instance.
func TestRevocationReachesEveryInstance(t *testing.T) {
	t.Parallel()
	db := indexed(t)
	key := newKey(t, db, "--name", "team", "--principal", "public")
	const origin = "https://intranet.example.com"
	issuer := newKey(t, db, "--name", "intranet", "--session-issuer", "--origin", origin, "--user-domain", "example.com")
	servers := startInstances(t, db, 2, nil)
	a, b := servers[0], servers[1]

	status, raw := a.call(t, http.MethodPost, "/v1/widget/sessions", issuer, map[string]any{"user": "erin@example.com"})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("mint a session on A: %d %s", status, raw)
	}
	var sess struct{ Token string }
	if err := json.Unmarshal(raw, &sess); err != nil || sess.Token == "" {
		t.Fatalf("mint a session on A: %v %s", err, raw)
	}
	question := map[string]any{"question": "Is parking free at the depot?"}
	for _, s := range servers {
		if status, raw := s.call(t, http.MethodPost, "/v1/answer", key, question); status != http.StatusOK {
			t.Fatalf("the key on %s before revocation: %d %s", s.name, status, raw)
		}
		if status, raw := s.call(t, http.MethodPost, "/v1/answer", sess.Token, question, "Origin", origin); status != http.StatusOK {
			t.Fatalf("A's session on %s before revocation: %d %s", s.name, status, raw)
		}
	}

	for _, name := range []string{"team", "intranet"} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"keys", "revoke", name},
			func(k string) string { return map[string]string{"DOCENT_DATABASE_URL": db.URL}[k] }, &out, &errOut); code != exitOK {
			t.Fatalf("keys revoke %s: exit %d: %s", name, code, errOut.String())
		}
	}
	for _, s := range []*instance{b, a} {
		status, raw := s.call(t, http.MethodPost, "/v1/answer", key, question)
		if status != http.StatusUnauthorized || !strings.Contains(string(raw), `"reason":"revoked"`) {
			t.Errorf("the revoked key on %s: %d %s, want 401 revoked", s.name, status, raw)
		}
		status, raw = s.call(t, http.MethodPost, "/v1/answer", sess.Token, question, "Origin", origin)
		if status != http.StatusUnauthorized || !strings.Contains(string(raw), `"reason":"issuer_revoked"`) {
			t.Errorf("a session of the revoked issuer on %s: %d %s, want 401 issuer_revoked", s.name, status, raw)
		}
	}
}

// TestRateLimitsHoldAcrossInstances: a caller whose requests a load balancer spreads over two
// instances gets the configured limit in all, not once per instance (DOCENT_RATE_LIMIT_SCOPE
// database, the default); the same for a widget key's own limit. With
// DOCENT_RATE_LIMIT_SCOPE=instance each instance allows the whole limit, as documented.
func TestRateLimitsHoldAcrossInstances(t *testing.T) {
	t.Parallel()
	const origin = "https://www.example.com"
	for _, scope := range []string{"database", "instance"} {
		t.Run(scope, func(t *testing.T) {
			t.Parallel()
			db := indexed(t)
			key := newKey(t, db, "--name", "team", "--principal", "public")
			widget := newKey(t, db, "--name", "site", "--widget", "--principal", "public", "--origin", origin)
			// A caller may make 4 requests at once, then one every 10 seconds; a widget key 2
			// at once (20 times its rate), then one every 10 seconds.
			servers := startInstances(t, db, 2, map[string]string{"DOCENT_RATE_LIMIT": "0.1", "DOCENT_RATE_BURST": "4",
				"DOCENT_WIDGET_KEY_RATE": "0.1", "DOCENT_RATE_LIMIT_SCOPE": scope})
			count := func(n int, send func(s *instance) (int, []byte)) (ok, limited int) {
				for i := range n {
					switch status, raw := send(servers[i%2]); status {
					case http.StatusOK:
						ok++
					case http.StatusTooManyRequests:
						limited++
					default:
						t.Fatalf("request %d: %d %s", i, status, raw)
					}
				}
				return ok, limited
			}
			start := time.Now()
			searches, _ := count(12, func(s *instance) (int, []byte) {
				return s.call(t, http.MethodPost, "/v1/search", key, map[string]any{"query": "parking"})
			})
			answers, _ := count(8, func(s *instance) (int, []byte) {
				return s.call(t, http.MethodPost, "/v1/answer", widget, map[string]any{"question": "Is parking free?"}, "Origin", origin)
			})
			// What the limits allow in the time the requests took (a token every 10 s).
			refill := int(time.Since(start)/(10*time.Second)) + 1
			if scope == "database" {
				if searches > 4+refill || searches < 4 {
					t.Errorf("a caller limited to a burst of 4 had %d of 12 searches served by two instances", searches)
				}
				if answers > 2+refill || answers < 2 {
					t.Errorf("a widget key limited to a burst of 2 had %d of 8 answers served by two instances", answers)
				}
				return
			}
			if searches < 8 || answers < 4 {
				t.Errorf("per instance: %d of 12 searches and %d of 8 answers served, want at least 8 and 4 (each instance's whole limit)", searches, answers)
			}
		})
	}
}

// TestCacheFollowsATagChangeOnEveryInstance: both instances have cached an answer citing a
// document; ingest re-tags the document so that the caller may no longer read it. Once B has
// seen the change (its answer no longer cites the document), A never serves its cached
// answer: every instance reads the corpus version, which the re-tag moved, on every request.
func TestCacheFollowsATagChangeOnEveryInstance(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".docent-acl", "group:staff\n")
	write("depot.md", "# Depot parking\n\nParking at the depot is free for staff on weekdays.\n")
	write("canteen.md", "# Canteen\n\nThe canteen serves lunch from noon to two.\n")
	ingestDir(t, db, "handbook", dir)
	key := newKey(t, db, "--name", "staff", "--principal", "group:staff")
	servers := startInstances(t, db, 2, map[string]string{"DOCENT_CACHE_SIZE": "100"})
	a, b := servers[0], servers[1]

	question := map[string]any{"question": "Is parking at the depot free for staff?"}
	type answer struct {
		Cached    bool
		Refused   bool
		Citations []struct{ Document struct{ URI string } }
	}
	ask := func(s *instance) answer {
		t.Helper()
		status, raw := s.call(t, http.MethodPost, "/v1/answer", key, question)
		if status != http.StatusOK {
			t.Fatalf("answer on %s: %d %s", s.name, status, raw)
		}
		var out answer
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	cites := func(a answer) bool {
		for _, c := range a.Citations {
			if c.Document.URI == "depot.md" {
				return true
			}
		}
		return false
	}
	for _, s := range servers {
		ask(s)
		if got := ask(s); !got.Cached || !cites(got) {
			t.Fatalf("%s: the second answer is cached %v, cites depot.md %v; want a cached answer citing it", s.name, got.Cached, cites(got))
		}
	}

	// The depot's page becomes management's only.
	write("depot.md.acl", "group:management\n")
	ingestDir(t, db, "handbook", dir)
	if got := ask(b); cites(got) {
		t.Fatalf("B still cites depot.md after the re-tag (cached %v)", got.Cached)
	}
	for i := range 3 {
		if got := ask(a); cites(got) {
			t.Errorf("A's answer %d after B saw the re-tag cites depot.md (cached %v)", i+1, got.Cached)
		}
	}
}

// BenchmarkRateLimitScope measures what shared rate limits cost a server: 4 clients search a
// server whose limits are in the database (the default) and one whose limits are its own,
// in turns (twice each, 4 s a turn, so that the machine's other load falls on both alike),
// and prints searches per second and latency of each with the load average.
//
//	go test -run '^$' -bench RateLimitScope -benchtime 1x ./cmd/server
func BenchmarkRateLimitScope(b *testing.B) {
	db := dbtest.New(b)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".docent-acl"), []byte("public\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		text := fmt.Sprintf("# Note %d\n\nThe depot's line %d is inspected every %d days; parking is free on weekdays.\n", i, i, 1+i%30)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%03d.md", i)), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		b.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "notes", Roots: []string{dir}}, db.Pool, emb, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := in.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	key := createKey(b, db, "public", "user")
	urls := map[string]string{}
	for _, scope := range []string{"database", "instance"} {
		addr, code, log := serveWith(b, db.URL, map[string]string{"DOCENT_RATE_LIMIT": "1e9", "DOCENT_RATE_BURST": "1000000000",
			"DOCENT_RATE_LIMIT_SCOPE": scope, "DOCENT_LOG_LEVEL": "info"})
		if addr == "" {
			b.Fatalf("server (%s) stopped: %d\n%s", scope, code, log.String())
		}
		urls[scope] = "http://" + addr
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	search := func(url string) func(string) (bool, error) {
		return func(q string) (bool, error) {
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/search", strings.NewReader(`{"query":"`+q+`"}`))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return false, err
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false, fmt.Errorf("%d %s", resp.StatusCode, raw)
			}
			return false, nil
		}
	}
	questions := []string{"depot line inspected", "parking weekdays", "how often is line 7 inspected", "free parking"}
	for _, url := range urls { // warm up
		load(4, time.Second, questions, search(url))
	}
	b.ResetTimer()
	runs := map[string][]loadRun{}
	for range 2 {
		for _, scope := range []string{"database", "instance"} {
			runs[scope] = append(runs[scope], load(4, 4*time.Second, questions, search(urls[scope])))
		}
	}
	b.StopTimer()
	loadavg, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nRate limits in the database against in the instance: POST /v1/search, 4 clients, 2 × 4 s each in turns; load average %s", loadavg)
	fmt.Println("| limits | searches/s | p50 ms | p99 ms | errors |")
	fmt.Println("|---|---:|---:|---:|---:|")
	rate := map[string]float64{}
	for _, scope := range []string{"database", "instance"} {
		var n, errs int
		var secs, p50, p99 float64
		for _, r := range runs[scope] {
			n += r.answers + r.refused
			errs += r.errors
			secs += r.elapsed.Seconds()
			p50 += r.p50 / 2
			p99 += r.p99 / 2
		}
		rate[scope] = float64(n) / secs
		fmt.Printf("| %s | %.0f | %.1f | %.1f | %d |\n", scope, rate[scope], p50, p99, errs)
		if errs > 0 {
			b.Errorf("%s: %d errors", scope, errs)
		}
	}
	fmt.Printf("throughput database / instance = %.2f\n", rate["database"]/rate["instance"])
	b.ReportMetric(rate["database"]/rate["instance"], "throughput-ratio")
}
