package cmdconfig

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/rerank"
	"github.com/docent-rag/docent/internal/retrieve"
)

// EmbedSpec reads the embedder that DOCENT_EMBEDDER and DOCENT_EMBED_DIMENSION name.
func EmbedSpec(getenv func(string) string) (embed.Spec, error) {
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

// Providers are the provider embedders' connection settings from the environment.
func Providers(getenv func(string) string) embed.Providers {
	return embed.Providers{OpenAIBaseURL: config.Lookup(getenv, config.OpenAIBaseURL),
		OpenAIAPIKey: getenv(config.OpenAIAPIKey), OllamaURL: config.Lookup(getenv, config.OllamaURL)}
}

// Embedder builds the embedder that DOCENT_EMBEDDER and DOCENT_EMBED_DIMENSION name. A
// provider whose dimension is not configured is asked for it with one short probe, since an
// index generation must know it before anything is written.
func Embedder(ctx context.Context, getenv func(string) string) (embed.Embedder, error) {
	spec, err := EmbedSpec(getenv)
	if err != nil {
		return nil, err
	}
	return embed.Open(ctx, spec, Providers(getenv))
}

// GenerationEmbedders returns what builds the embedder of an existing index generation: the
// kind, model and dimension it was built with (whatever DOCENT_EMBEDDER says now), with the
// providers' settings from the environment. Queries and catch-ups must embed with it.
func GenerationEmbedders(getenv func(string) string) func(context.Context, index.Generation) (retrieve.Embedder, error) {
	return func(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
		return embed.Open(ctx, embed.Spec{Kind: g.Embedder, Model: g.Model, Dimension: g.Dimension}, Providers(getenv))
	}
}

// Reranker builds the reranker that kind names (none, builtin, tei or cohere: the values of
// DOCENT_RERANKER) with the DOCENT_RERANKER_* settings, and returns its name for results
// (empty for none). setting names where kind came from, for the errors: DOCENT_RERANKER,
// or a flag.
func Reranker(setting, kind string, getenv func(string) string) (retrieve.Reranker, string, error) {
	switch kind {
	case "none":
		return nil, "", nil
	case "builtin":
		return retrieve.NewBuiltin(), "builtin", nil
	case "tei":
		t, err := rerank.NewTEI(rerank.TEIConfig{BaseURL: getenv(config.RerankerURL), APIKey: getenv(config.RerankerAPIKey)})
		if err != nil {
			return nil, "", fmt.Errorf("%s=tei: %w", setting, err)
		}
		return t, t.Name(), nil
	case "cohere":
		c, err := rerank.NewCohere(rerank.CohereConfig{BaseURL: getenv(config.RerankerURL), APIKey: getenv(config.RerankerAPIKey),
			Model: getenv(config.RerankerModel)})
		if err != nil {
			return nil, "", fmt.Errorf("%s=cohere: %w", setting, err)
		}
		return c, c.Name(), nil
	}
	return nil, "", fmt.Errorf("%s: %q is not none, builtin, tei or cohere", setting, kind)
}

// ValidationPolicy reads DOCENT_VALIDATION (answer.Policy: drop, fallback or mark), so that
// `eval answers` validates as the server does.
func ValidationPolicy(getenv func(string) string) (answer.Policy, error) {
	p, err := answer.ParsePolicy(config.Lookup(getenv, config.Validation))
	if err != nil {
		return "", fmt.Errorf("%s: %w", config.Validation, err)
	}
	return p, nil
}

// Generator builds the answer generator that spec names (DOCENT_GENERATOR's values:
// extractive, openai:<model> or ollama:<model>) with the providers' settings from the
// environment and timeout per model call; nil means the extractive answer alone. The server
// and `eval answers` build it here, so that what is evaluated is what is served.
func Generator(spec string, timeout time.Duration, getenv func(string) string) (answer.Generator, error) {
	kind, model, _ := strings.Cut(spec, ":")
	switch kind {
	case "extractive":
		return nil, nil
	case "openai":
		return answer.NewOpenAI(answer.LLMConfig{BaseURL: config.Lookup(getenv, config.OpenAIBaseURL),
			APIKey: getenv(config.OpenAIAPIKey), Model: model, Timeout: timeout})
	case "ollama":
		return answer.NewOllama(answer.LLMConfig{BaseURL: config.Lookup(getenv, config.OllamaURL), Model: model, Timeout: timeout})
	}
	return nil, fmt.Errorf("%s: %q is not extractive, openai:<model> or ollama:<model>", config.Generator, spec)
}
