package chunk

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
)

// Version identifies the splitting code and the token counter. Stored with a chunking
// beside its Config; bump it when a change to this package changes the chunks that the same
// Config produces, so that ingestion knows to rechunk.
const Version = "1"

// Default sizes, in tokens as counted by CountTokens. MaxTokens matches the 512-token input
// limit of the BERT-family embedding models; see CountTokens for how far its counts are
// from theirs.
const (
	DefaultTargetTokens  = 350
	DefaultMaxTokens     = 512
	DefaultOverlapTokens = 48
	DefaultMinTokens     = 64
)

// Chunker splits documents into chunks. It holds only its configuration, so one Chunker
// may be used by any number of goroutines at once.
type Chunker struct {
	cfg Config
}

// New returns a Chunker for cfg. Zero fields take their defaults (so overlap and merging
// cannot be switched off with 0; an OverlapTokens or MinTokens of 1 does that in practice).
// It returns an error naming the field when the sizes are inconsistent.
func New(cfg Config) (*Chunker, error) {
	cfg.TargetTokens = cmp.Or(cfg.TargetTokens, DefaultTargetTokens)
	cfg.MaxTokens = cmp.Or(cfg.MaxTokens, DefaultMaxTokens)
	cfg.OverlapTokens = cmp.Or(cfg.OverlapTokens, DefaultOverlapTokens)
	cfg.MinTokens = cmp.Or(cfg.MinTokens, DefaultMinTokens)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("chunk config: %w", err)
	}
	return &Chunker{cfg: cfg}, nil
}

// Config returns the effective configuration, defaults filled in. Two Chunkers with equal
// Configs produce equal chunks.
func (c *Chunker) Config() Config { return c.cfg }

// Identity identifies a chunking: the chunker's effective settings and the version of its
// code (which changes when its output does, token counting included). The index stores its
// JSON with each chunking and hashes it (with the text search configuration) to find it, so
// its encoding must not change: two runs with the same settings and code must find the same
// chunking, and the chunks of a stored chunking can be made again only from its Identity.
type Identity struct {
	Chunker Config `json:"chunker"`
	Version string `json:"version"`
}

// Identity returns the identity of the chunking that c makes.
func (c *Chunker) Identity() Identity { return Identity{Chunker: c.cfg, Version: Version} }

// ParseIdentity returns the settings of a stored chunking's identity (its JSON), or an error
// when another version of the chunker made it: its chunks cannot be made again by this
// binary.
func ParseIdentity(raw []byte) (Config, error) {
	var id Identity
	if err := json.Unmarshal(raw, &id); err != nil {
		return Config{}, fmt.Errorf("chunking configuration: %w", err)
	}
	if id.Version != Version {
		return Config{}, fmt.Errorf("the chunking was made by chunker %s, this binary has %s", id.Version, Version)
	}
	return id.Chunker, nil
}

// validate checks a Config whose defaults are filled in.
func (cfg Config) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"TargetTokens", cfg.TargetTokens},
		{"MaxTokens", cfg.MaxTokens},
		{"OverlapTokens", cfg.OverlapTokens},
		{"MinTokens", cfg.MinTokens},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s is %d, must not be negative", f.name, f.v))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if cfg.TargetTokens > cfg.MaxTokens {
		errs = append(errs, fmt.Errorf("TargetTokens %d exceeds MaxTokens %d", cfg.TargetTokens, cfg.MaxTokens))
	}
	if cfg.OverlapTokens >= cfg.TargetTokens {
		errs = append(errs, fmt.Errorf("OverlapTokens %d must be less than TargetTokens %d", cfg.OverlapTokens, cfg.TargetTokens))
	}
	if cfg.MinTokens > cfg.TargetTokens {
		errs = append(errs, fmt.Errorf("MinTokens %d exceeds TargetTokens %d", cfg.MinTokens, cfg.TargetTokens))
	}
	return errors.Join(errs...)
}
