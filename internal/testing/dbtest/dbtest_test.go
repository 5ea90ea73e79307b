package dbtest_test

import (
	"context"
	"testing"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

func TestDatabasesAreIsolatedAndMigrated(t *testing.T) {
	t.Parallel()
	a, b := dbtest.New(t), dbtest.New(t)
	if a.Name == b.Name {
		t.Fatalf("two tests got the same database %s", a.Name)
	}
	ctx := context.Background()
	if _, err := a.Pool.Exec(ctx, `INSERT INTO sources (name) VALUES ('only-in-a')`); err != nil {
		t.Fatalf("the clone has no schema: %v", err)
	}
	var n int
	if err := b.Pool.QueryRow(ctx, `SELECT count(*) FROM sources`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s sees %d sources written to %s", b.Name, n, a.Name)
	}
}

// BenchmarkNew measures what each database test pays before it starts: cloning the migrated
// template and connecting to the clone. (The clones are dropped when the benchmark ends.)
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		dbtest.New(b)
	}
}
