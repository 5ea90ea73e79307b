package answer

// Model names what writes the answers: "<kind>:<model>" for a model generator, or
// "extractive". It is part of the answer cache key and of every response and trace.
func (a *Answerer) Model() string {
	if m, ok := a.primary.(interface{ Model() string }); ok {
		return m.Model()
	}
	return ExtractiveModel
}

// PromptVersion is the version of the prompt template the model generators use.
func (a *Answerer) PromptVersion() string { return PromptVersion }

// Model is "openai:<model>".
func (g *OpenAI) Model() string { return g.c.kind + ":" + g.c.model }

// Model is "ollama:<model>".
func (g *Ollama) Model() string { return g.c.kind + ":" + g.c.model }
