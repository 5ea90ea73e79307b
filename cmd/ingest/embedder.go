package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/ingest"
)

// newEmbedder builds the embedder that DOCENT_EMBEDDER names: builtin, openai:<model> or
// ollama:<model>. A provider whose dimension is not configured is asked for it with one short
// probe, since the index generation must know it before anything is written.
func newEmbedder(ctx context.Context, getenv func(string) string) (ingest.Embedder, error) {
	spec := config.Lookup(getenv, config.Embedder)
	dim := 0
	if s := getenv(config.EmbedDimension); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive number", config.EmbedDimension, s)
		}
		dim = n
	}
	kind, model, _ := strings.Cut(spec, ":")
	switch kind {
	case "builtin":
		if model != "" {
			return nil, fmt.Errorf("%s: builtin takes no model (got %q)", config.Embedder, spec)
		}
		return embed.NewBuiltin(embed.BuiltinConfig{Dimension: dim})
	case "openai":
		if model == "" {
			return nil, fmt.Errorf("%s: name the model, e.g. openai:text-embedding-3-small", config.Embedder)
		}
		e, err := embed.NewOpenAI(embed.OpenAIConfig{
			BaseURL: config.Lookup(getenv, config.OpenAIBaseURL), APIKey: getenv(config.OpenAIAPIKey),
			Model: model, Dimension: dim,
		})
		if err != nil {
			return nil, err
		}
		if _, err := e.DetectDimension(ctx); err != nil {
			return nil, fmt.Errorf("embedder %s: %w", spec, err)
		}
		return e, nil
	case "ollama":
		if model == "" {
			return nil, fmt.Errorf("%s: name the model, e.g. ollama:nomic-embed-text", config.Embedder)
		}
		e, err := embed.NewOllama(embed.OllamaConfig{BaseURL: config.Lookup(getenv, config.OllamaURL), Model: model, Dimension: dim})
		if err != nil {
			return nil, err
		}
		if _, err := e.DetectDimension(ctx); err != nil {
			return nil, fmt.Errorf("embedder %s: %w", spec, err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("%s: %q is not builtin, openai:<model> or ollama:<model>", config.Embedder, spec)
}
