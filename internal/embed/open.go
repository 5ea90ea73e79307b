package embed

import (
	"context"
	"fmt"
	"strings"
)

// Embedder is what Open returns: one of Builtin, OpenAI and Ollama, which give one vector
// per text, in order, each of Dimension values, made by the model Kind and Model name. It
// is the type of Open's result, not a contract for consumers: ingest and retrieve declare
// their own Embedder, which these types (and this interface) satisfy, as
// consumers_test.go asserts.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dimension() int
	Kind() string
	Model() string
}

// Spec names an embedder: its kind (builtin, openai or ollama), the provider's model (empty
// for builtin) and the vectors' dimension (0: the built-in default, or what the provider's
// model returns).
type Spec struct {
	Kind      string
	Model     string
	Dimension int
}

// String is the spec as written in DOCENT_EMBEDDER and --embedder: builtin or kind:model.
func (s Spec) String() string {
	if s.Model == "" {
		return s.Kind
	}
	return s.Kind + ":" + s.Model
}

// ParseSpec reads "builtin", "openai:<model>" or "ollama:<model>", with dimension dim.
func ParseSpec(text string, dim int) (Spec, error) {
	kind, model, _ := strings.Cut(text, ":")
	s := Spec{Kind: kind, Model: model, Dimension: dim}
	switch {
	case dim < 0:
		return Spec{}, fmt.Errorf("dimension %d is negative", dim)
	case kind == "builtin" && model != "":
		return Spec{}, fmt.Errorf("builtin takes no model (got %q)", text)
	case kind == "openai" && model == "":
		return Spec{}, fmt.Errorf("%q: name the model, e.g. openai:text-embedding-3-small", text)
	case kind == "ollama" && model == "":
		return Spec{}, fmt.Errorf("%q: name the model, e.g. ollama:nomic-embed-text", text)
	case kind != "builtin" && kind != "openai" && kind != "ollama":
		return Spec{}, fmt.Errorf("%q is not builtin, openai:<model> or ollama:<model>", text)
	}
	return s, nil
}

// Providers are the connection settings of the provider embedders.
type Providers struct {
	OpenAIBaseURL string
	OpenAIAPIKey  string
	OllamaURL     string
}

// Open returns the embedder spec names. A provider's dimension, when the spec leaves it
// open, is learned with one short probe, since an index generation must know it before
// anything is written; the built-in embedder's model must be the one this binary has
// (spec.Model empty or BuiltinModel).
func Open(ctx context.Context, spec Spec, p Providers) (Embedder, error) {
	switch spec.Kind {
	case "builtin":
		if spec.Model != "" && spec.Model != BuiltinModel {
			return nil, fmt.Errorf("the built-in embedder %s is not this binary's (%s): rebuild the index with `ingest reindex`", spec.Model, BuiltinModel)
		}
		return NewBuiltin(BuiltinConfig{Dimension: spec.Dimension})
	case "openai":
		e, err := NewOpenAI(OpenAIConfig{BaseURL: p.OpenAIBaseURL, APIKey: p.OpenAIAPIKey, Model: spec.Model, Dimension: spec.Dimension})
		if err != nil {
			return nil, err
		}
		if _, err := e.DetectDimension(ctx); err != nil {
			return nil, fmt.Errorf("embedder %s: %w", spec, err)
		}
		return e, nil
	case "ollama":
		e, err := NewOllama(OllamaConfig{BaseURL: p.OllamaURL, Model: spec.Model, Dimension: spec.Dimension})
		if err != nil {
			return nil, err
		}
		if _, err := e.DetectDimension(ctx); err != nil {
			return nil, fmt.Errorf("embedder %s: %w", spec, err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("unknown embedder %q", spec.Kind)
}
