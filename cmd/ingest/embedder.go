package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/embed"
)

// embedSpec reads the embedder that DOCENT_EMBEDDER and DOCENT_EMBED_DIMENSION name.
func embedSpec(getenv func(string) string) (embed.Spec, error) {
	dim := 0
	if s := getenv(config.EmbedDimension); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return embed.Spec{}, fmt.Errorf("%s: %q is not a positive number", config.EmbedDimension, s)
		}
		dim = n
	}
	spec, err := embed.ParseSpec(config.Lookup(getenv, config.Embedder), dim)
	if err != nil {
		return embed.Spec{}, fmt.Errorf("%s: %w", config.Embedder, err)
	}
	return spec, nil
}

// providers are the provider embedders' settings from the environment.
func providers(getenv func(string) string) embed.Providers {
	return embed.Providers{OpenAIBaseURL: config.Lookup(getenv, config.OpenAIBaseURL),
		OpenAIAPIKey: getenv(config.OpenAIAPIKey), OllamaURL: config.Lookup(getenv, config.OllamaURL)}
}

// newEmbedder builds the embedder that DOCENT_EMBEDDER names: builtin, openai:<model> or
// ollama:<model>. A provider whose dimension is not configured is asked for it with one short
// probe, since the index generation must know it before anything is written.
func newEmbedder(ctx context.Context, getenv func(string) string) (embed.Embedder, error) {
	spec, err := embedSpec(getenv)
	if err != nil {
		return nil, err
	}
	return embed.Open(ctx, spec, providers(getenv))
}
