package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/docent-rag/docent/internal/index"
)

// TestServesThroughATransactionPooler runs the server on a database reached through PgBouncer
// in transaction pooling mode: keys are created and checked, answers are retrieved (the
// dense leg's SET LOCAL settings, the statistics, the traces written) by several clients at
// once, each answer citing the passage, with no error in the log. Through the same pooler
// without cache_describe, pgx's named prepared statements collide on the pooler's shared
// server connections: the server stops at once with a message that says what to change.
func TestServesThroughATransactionPooler(t *testing.T) {
	t.Parallel()
	db := indexed(t)
	pooled := db.PgBouncerURL(t)

	var keyOut, keyErr bytes.Buffer
	if code := run(context.Background(), []string{"keys", "create", "--name", "k", "--principal", "public"},
		func(k string) string { return map[string]string{"DOCENT_DATABASE_URL": pooled}[k] }, &keyOut, &keyErr); code != exitOK {
		t.Fatalf("keys create through PgBouncer: exit %d: %s", code, keyErr.String())
	}
	key := strings.TrimSpace(keyOut.String())

	addr, code, log := serveWith(t, pooled, map[string]string{"DOCENT_RATE_LIMIT": "1000", "DOCENT_RATE_BURST": "1000"})
	if addr == "" {
		t.Fatalf("the server stopped (exit %d); log:\n%s", code, log.String())
	}
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for c := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := askParking(addr, key, (c+i)%2 == 1); err != nil {
					errs <- err.Error()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("answer through PgBouncer: %s", e)
	}
	if strings.Contains(log.String(), `"level":"ERROR"`) {
		t.Errorf("errors in the log:\n%s", log.String())
	}

	u, err := url.Parse(pooled)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("default_query_exec_mode")
	u.RawQuery = q.Encode()
	prepared := u.String()
	var hinted error
	for range 3 {
		pool, err := index.Open(context.Background(), prepared)
		if err != nil {
			hinted = err
			break
		}
		defer pool.Close()
	}
	if hinted == nil {
		t.Log("the pooler gave each connection a server connection of its own: no collision to explain")
	} else if !strings.Contains(hinted.Error(), "default_query_exec_mode=cache_describe") {
		t.Errorf("without cache_describe behind a transaction pooler, connecting says:\n%v\nwant it to name default_query_exec_mode=cache_describe", hinted)
	}
}

// askParking asks the server at addr, as key, the fixture's parking question (a search when
// search is set) and returns an error unless a 200 cites a.md first.
func askParking(addr, key string, search bool) error {
	route, body := "/v1/answer", `{"question":"Is parking free at the depot?"}`
	if search {
		route, body = "/v1/search", `{"query":"Where is parking free?"}`
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+route, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var a struct {
		Refused   bool
		Citations []struct{ Document struct{ URI string } }
		Results   []struct{ Document struct{ URI string } }
	}
	err = json.Unmarshal(raw, &a)
	a.Citations = append(a.Citations, a.Results...)
	if resp.StatusCode != http.StatusOK || err != nil || a.Refused || len(a.Citations) == 0 || a.Citations[0].Document.URI != "a.md" {
		return errors.New(resp.Status + " " + string(raw))
	}
	return nil
}
