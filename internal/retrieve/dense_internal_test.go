package retrieve

import "testing"

// TestEfSearchGrowsAsTheVisibleShareShrinks checks the HNSW candidate list of the dense leg:
// EfSearch for an unrestricted caller, divided by the visible share for the others, never
// below Depth and never above pgvector's 1,000.
func TestEfSearchGrowsAsTheVisibleShareShrinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		ef, depth      int
		visible, total int64
		want           int
	}{
		{"everything visible", 100, 100, 100_000, 100_000, 100},
		{"estimate above the total", 100, 100, 150_000, 100_000, 100},
		{"half", 100, 100, 50_000, 100_000, 200},
		{"a third, rounded up", 100, 100, 1, 3, 300},
		{"a fifth", 150, 100, 20_000, 100_000, 750},
		{"a tenth: capped", 100, 100, 10_000, 100_000, 1000},
		{"nothing visible: capped", 100, 100, 0, 100_000, 1000},
		{"no statistics", 100, 100, 0, 0, 100},
		{"at least Depth", 40, 100, 100_000, 100_000, 100},
		{"Depth above EfSearch / share", 40, 100, 60_000, 100_000, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{EfSearch: tc.ef, Depth: tc.depth}
			if got := c.efSearch(tc.visible, tc.total); got != tc.want {
				t.Errorf("efSearch(%d, %d) with EfSearch %d, Depth %d = %d, want %d", tc.visible, tc.total, tc.ef, tc.depth, got, tc.want)
			}
		})
	}
}
