package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// OpenAI's chat completions API over the answer use case (docs/openai.md), for the chat
// front ends (Open WebUI, LibreChat, an internal bot) and the OpenAI SDKs that take Docent
// as their "model": POST /v1/chat/completions answers the last user message with ask.Service
// like POST /v1/answer, with the same callers, permissions, limits and traces; the earlier
// user and assistant messages are the history. GET /v1/models lists the one model, docent.

// chatModel is the one model Docent serves.
const chatModel = "docent"

// chatRoute is OpenAI's chat completions route.
const chatRoute = index.ChatRoute // traced under it; feedback may rate its answers

// openAIRoutes answer their errors in OpenAI's shape (toOpenAIError).
var openAIRoutes = []string{chatRoute, "/v1/models", "/v1/models/:id"}

// chatBodyLimit is the body limit of a chat request: chat front ends send the whole
// conversation every time (of which the last maxHistory turns are used), so it is 16 times
// MaxBodyBytes, 1 MiB by default.
func (s *Server) chatBodyLimit() int64 { return 16 * s.cfg.MaxBodyBytes }

// Limits of a chat request beyond those of an answer (chatBodyLimit bounds its size).
const (
	maxChatMessages = 1000
	// replacedNotice separates a streamed answer that validation replaced from the answer
	// that replaces it (see chatStream.finish).
	replacedNotice = "\n\n*(Docent replaced the text above, which it could not check against your documents, with this answer:)*\n\n"
)

// ChatRequest is the body of POST /v1/chat/completions: OpenAI's, of which Docent reads the
// fields below. Other fields (temperature, top_p, max_tokens, tools, seed, metadata and
// whatever an SDK adds) are accepted and ignored, so that real clients work unchanged;
// those that Docent cannot honour and whose silent loss would mislead (n > 1, a
// response_format other than text) are refused.
type ChatRequest struct {
	Model         string             `json:"model"`
	Messages      []ChatMessage      `json:"messages"`
	Stream        bool               `json:"stream"`
	StreamOptions *ChatStreamOptions `json:"stream_options"`
	N             *int               `json:"n"`
	// ResponseFormat: only {"type": "text"}; Docent answers in prose with [n] markers.
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	// Temperature, MaxTokens, MaxCompletionTokens and User are checked for their type and
	// ignored: the server's configuration bounds generation, and the caller's identity is
	// its credential's, never a field it can write.
	Temperature         *float64 `json:"temperature"`
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	User                string   `json:"user"`
	// Store, a Docent reading of OpenAI's field, starts a stored conversation (see
	// ConversationID); by default none is stored, as chat front ends keep their own history.
	Store bool `json:"store"`
	// ConversationID, a Docent extension, continues the caller's stored conversation (GET
	// /v1/conversations/{id}): the request then holds the new question only.
	ConversationID string `json:"conversation_id"`
}

// ChatStreamOptions are the options of a streamed completion.
type ChatStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatMessage is one message of a chat request. Content is a string, null (an assistant's
// message with tool calls only), or an array of parts of which only text parts are taken.
type ChatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name"` // ignored
}

// chatQuestion is a validated chat request as the use case takes it.
type chatQuestion struct {
	q            ask.Question
	field        string // the question's field, for its errors: messages[i].content
	stream       bool
	includeUsage bool
}

func refuseModel(model string) error {
	return &Error{Status: http.StatusNotFound, Code: "model_not_found", Field: "model",
		Message: fmt.Sprintf("the model %q does not exist: this server serves one model, %q", model, chatModel)}
}

// validate checks the request and turns it into the question: the last message, which must
// be the user's, is the question; the user and assistant messages before it are the
// history (the last maxHistory of them, each cut to maxTurnChars: front ends send whole
// conversations); system and developer messages are ignored, as Docent's own instructions
// govern its answers and a caller's principals come from its credential alone.
func (r *ChatRequest) validate() (chatQuestion, error) {
	var cq chatQuestion
	switch {
	case r.Model == "":
		return cq, invalid("model", "required: %q", chatModel)
	case r.Model != chatModel:
		return cq, refuseModel(r.Model)
	case r.N != nil && *r.N != 1:
		return cq, invalid("n", "Docent writes one answer per request: n must be 1")
	case r.ResponseFormat != nil && r.ResponseFormat.Type != "text":
		return cq, invalid("response_format", "only {\"type\": \"text\"} is supported: Docent answers in prose with [n] citations")
	case len(r.Messages) == 0:
		return cq, invalid("messages", "required: at least the user's question")
	case len(r.Messages) > maxChatMessages:
		return cq, invalid("messages", "at most %d messages", maxChatMessages)
	}
	var turns []answer.Turn
	question := -1
	for i, m := range r.Messages {
		field := fmt.Sprintf("messages[%d]", i)
		text, err := messageText(m, field)
		if err != nil {
			return cq, err
		}
		switch m.Role {
		case "system", "developer":
			continue
		case answer.RoleUser, answer.RoleAssistant:
		case "tool", "function":
			return cq, invalid(field+".role", "Docent calls no tools: tool and function messages are not supported")
		default:
			return cq, invalid(field+".role", "must be system, developer, user or assistant")
		}
		question = i
		turns = append(turns, answer.Turn{Role: m.Role, Content: text})
	}
	if question < 0 || r.Messages[question].Role != answer.RoleUser {
		return cq, invalid("messages", "the last message (system messages aside) must be the user's question")
	}
	cq.field = fmt.Sprintf("messages[%d].content", question)
	q := turns[len(turns)-1].Content
	if strings.TrimSpace(q) == "" {
		return cq, invalid(cq.field, "required: the question")
	}
	history := turns[:len(turns)-1]
	if (r.ConversationID != "" || r.Store) && len(history) > 0 {
		return cq, invalid("messages", "with conversation_id or store, send the new question alone: the server keeps the history")
	}
	history = history[max(0, len(history)-maxHistory):]
	for i, t := range history {
		history[i].Content = clipRunes(t.Content, maxTurnChars)
	}
	cq.q = ask.Question{Text: q, History: history, MaxSources: 5, ConversationID: r.ConversationID,
		Ephemeral: !r.Store}
	cq.stream = r.Stream
	cq.includeUsage = r.StreamOptions != nil && r.StreamOptions.IncludeUsage
	return cq, nil
}

// messageText is a message's text: its content string, or its text parts joined by line
// feeds. Any other part (an image, audio, a file) is refused: Docent reads text only, and a
// question whose image were dropped would be answered as another question.
func messageText(m ChatMessage, field string) (string, error) {
	raw := bytes.TrimSpace(m.Content)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		if m.Role == answer.RoleAssistant {
			return "", nil // an assistant's tool calls only: nothing to take
		}
		return "", invalid(field+".content", "required")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid(field+".content", "must be a string or an array of text parts")
		}
		return s, checkText(field+".content", s)
	case raw[0] != '[':
		return "", invalid(field+".content", "must be a string or an array of text parts")
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid(field+".content", "must be a string or an array of text parts")
	}
	texts := make([]string, 0, len(parts))
	for j, p := range parts {
		pf := fmt.Sprintf("%s.content[%d]", field, j)
		if p.Type != "text" {
			return "", invalid(pf+".type", "only text parts are supported (not %q): Docent answers from text documents", p.Type)
		}
		if p.Text == nil {
			return "", invalid(pf+".text", "required")
		}
		if err := checkText(pf+".text", *p.Text); err != nil {
			return "", err
		}
		texts = append(texts, *p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// checkText refuses the control characters decode refuses in every other string.
func checkText(field, s string) error {
	return walkStrings(reflect.ValueOf(s), field)
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// ChatCompletion is the answer to a chat request: OpenAI's chat.completion object, with the
// Docent extension.
type ChatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"` // chat.completion
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []ChatChoice `json:"choices"`
	Usage   ChatUsage    `json:"usage"`
	Docent  ChatDocent   `json:"docent"`
}

// ChatChoice is the one choice of a completion.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      ChatReply       `json:"message"`
	FinishReason string          `json:"finish_reason"` // stop
	Logprobs     json.RawMessage `json:"logprobs"`      // null
}

// ChatReply is the assistant's message. A refusal ("I can't find that in the documents you
// can access.") is its content, as front ends show content; Refusal, which OpenAI keeps for
// safety refusals, is always null, and the extension's refused field marks it.
type ChatReply struct {
	Role    string  `json:"role"` // assistant
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

// ChatUsage is the tokens the model reported for writing the answer; zeros when no model was
// called (a refusal for weak evidence, a cached answer, the extractive answer alone).
type ChatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatDocent is the Docent extension of a completion (the field "docent"): what /v1/answer
// says beside the text.
type ChatDocent struct {
	AnswerID       string     `json:"answer_id"` // the answer's id and trace_id
	Refused        bool       `json:"refused"`
	Reason         *string    `json:"reason"`
	Grounded       bool       `json:"grounded"`
	Fallback       *string    `json:"fallback"`
	Cached         bool       `json:"cached"`
	Generator      string     `json:"generator"` // who wrote the text: the model, "extractive", or ""
	Citations      []Citation `json:"citations"`
	ConversationID *string    `json:"conversation_id"`
	// QueryTruncated, DroppedSentences and FallbackReason: as in /v1/answer's response.
	QueryTruncated   bool    `json:"query_truncated"`
	DroppedSentences int     `json:"dropped_sentences"`
	FallbackReason   *string `json:"fallback_reason"`
	// Answer and Replaced, in a stream's last chunk only: the validated answer, and whether
	// it replaced the text streamed before (after a notice: see docs/openai.md).
	Answer   *string `json:"answer,omitempty"`
	Replaced *bool   `json:"replaced,omitempty"`
}

func toChatDocent(id string, a *ask.Answer) ChatDocent {
	d := ChatDocent{AnswerID: id, Refused: a.Refused, Grounded: a.Grounded, Cached: a.Cached, Generator: a.Model,
		Citations: toCitations(a.Citations), QueryTruncated: a.QueryTruncated, DroppedSentences: a.DroppedSentences}
	if a.FallbackReason != "" {
		d.FallbackReason = ptr(a.FallbackReason)
	}
	if a.Reason != "" {
		d.Reason = ptr(a.Reason)
	}
	if a.Fallback != "" {
		d.Fallback = ptr(a.Fallback)
	}
	if a.ConversationID != "" {
		d.ConversationID = ptr(a.ConversationID)
	}
	return d
}

func toChatUsage(u answer.Usage) ChatUsage {
	return ChatUsage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		TotalTokens: u.PromptTokens + u.CompletionTokens}
}

// chatCompletions serves POST /v1/chat/completions: a chat.completion object, or with
// "stream": true Server-Sent Events of chat.completion.chunk objects ending with [DONE].
func (s *Server) chatCompletions(c echo.Context) error {
	var req ChatRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	cq, err := req.validate()
	if err != nil {
		return err
	}
	caller := ask.NewCaller(principalOf(c))
	tr := s.startTrace(c, chatRoute, caller, cq.q.Text)
	id, created := "chatcmpl-"+tr.ID, s.cfg.Now().Unix()
	var stream *chatStream
	var sink ask.Sink
	if cq.stream {
		stream = &chatStream{sse: sse{c: c}, id: id, created: created}
		sink = stream
	}
	a, err := s.asker.Ask(c.Request().Context(), cq.q, caller, tr, sink)
	if err != nil {
		if errors.Is(err, ask.ErrClientGone) {
			tr.Fail(ask.ErrClientGone)
			s.finishTrace(tr)
			return nil
		}
		err = conversationError(retrievalError(queryError(cq.field, err)))
		tr.Fail(err)
		s.finishTrace(tr)
		if stream != nil && stream.started {
			stream.fail(toOpenAIError(s.classify(c, err)))
			return nil
		}
		return err
	}
	s.finishTrace(tr)
	if stream != nil {
		stream.finish(tr.ID, a, cq.includeUsage)
		return nil
	}
	return c.JSON(http.StatusOK, ChatCompletion{ID: id, Object: "chat.completion", Created: created, Model: chatModel,
		Choices: []ChatChoice{{Message: ChatReply{Role: "assistant", Content: a.Text}, FinishReason: "stop",
			Logprobs: json.RawMessage("null")}},
		Usage: toChatUsage(a.Usage), Docent: toChatDocent(tr.ID, a)})
}

// ChatChunk is one event of a streamed completion: OpenAI's chat.completion.chunk.
type ChatChunk struct {
	ID      string            `json:"id"`
	Object  string            `json:"object"` // chat.completion.chunk
	Created int64             `json:"created"`
	Model   string            `json:"model"`
	Choices []ChatChunkChoice `json:"choices"`
	Usage   *ChatUsage        `json:"usage,omitempty"`
	// Docent is the extension: chatSources in the first chunk, ChatDocent in the last.
	Docent any `json:"docent,omitempty"`
}

// ChatChunkChoice is the one choice of a chunk: its delta, and the finish reason at the end.
type ChatChunkChoice struct {
	Index        int             `json:"index"`
	Delta        ChatDelta       `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"` // null
}

// ChatDelta is the text a chunk adds, with the role in the first chunk.
type ChatDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// chatSources is the Docent extension of a stream's first chunk: the sources the answer is
// written from, cited as [n] (none for a refusal).
type chatSources struct {
	Sources []Source `json:"sources"`
}

// chatStream writes a streamed completion, and is the use case's ask.Sink. The first chunk
// (role and sources) is sent when the sources are known, so that an error before them is
// still an HTTP status. The text streamed is the model's with its citations cleaned as
// validation will clean them (answer.CleanCitations), holding back what may still change (a
// "[" not yet closed, trailing white space): the deltas then add up to the validated
// answer. Should validation replace the answer (the extractive fallback, a refusal, a retry
// after text was streamed), finish appends the notice and the answer that replaces it.
type chatStream struct {
	sse
	id      string
	created int64
	sources int             // the number of sources the answer may cite
	raw     strings.Builder // the text generated so far
	sent    string          // the text sent so far
	astray  bool            // the cleaned text no longer extends what was sent
}

func (cs *chatStream) Sources(evidence []retrieve.Item) error {
	cs.sources = len(evidence)
	return cs.send(ChatChunk{Choices: []ChatChunkChoice{{Delta: ChatDelta{Role: "assistant", Content: ptr("")}}},
		Docent: chatSources{Sources: toSources(evidence)}})
}

func (cs *chatStream) Delta(text string) {
	if cs.astray || cs.gone != nil {
		return
	}
	cs.raw.WriteString(text)
	stable := holdBack(answer.CleanCitations(cs.raw.String(), cs.sources))
	if !strings.HasPrefix(stable, cs.sent) {
		cs.astray = true
		return
	}
	cs.content(stable[len(cs.sent):])
}

// holdBack cuts from a cleaned text what the next piece of text may still change: trailing
// white space (removed before a dropped citation, or between two merged ones), and a "["
// that may open a citation not yet closed.
func holdBack(s string) string {
	if i := strings.LastIndexByte(s, '['); i >= 0 && len(s)-i <= 24 && strings.Trim(s[i+1:], "0123456789 ,;-–\t") == "" {
		s = s[:i]
	}
	return strings.TrimRight(s, " \t\r\n")
}

// content sends a delta of text, unless empty.
func (cs *chatStream) content(text string) {
	if text == "" {
		return
	}
	if cs.send(ChatChunk{Choices: []ChatChunkChoice{{Delta: ChatDelta{Content: ptr(text)}}}}) == nil {
		cs.sent += text
	}
}

// finish sends the rest of the answer (or the notice and the answer that replaces the text
// sent), the last chunk with the finish reason and the extension, the usage when asked for,
// and [DONE].
func (cs *chatStream) finish(id string, a *ask.Answer, includeUsage bool) {
	if !cs.started {
		_ = cs.Sources(a.Sources)
	}
	replaced := cs.astray || !strings.HasPrefix(a.Text, cs.sent)
	if replaced {
		cs.content(replacedNotice + a.Text)
	} else {
		cs.content(a.Text[len(cs.sent):])
	}
	d := toChatDocent(id, a)
	d.Answer, d.Replaced = ptr(a.Text), ptr(replaced)
	_ = cs.send(ChatChunk{Choices: []ChatChunkChoice{{Delta: ChatDelta{}, FinishReason: ptr("stop")}},
		Docent: d})
	if includeUsage {
		u := toChatUsage(a.Usage)
		_ = cs.send(ChatChunk{Choices: []ChatChunkChoice{}, Usage: &u})
	}
	cs.write([]byte("[DONE]"))
}

// fail sends an error as OpenAI does in a stream: a data line holding {"error": {...}}.
func (cs *chatStream) fail(body openAIError) {
	data, err := json.Marshal(body)
	if err == nil {
		cs.write(data)
	}
}

func (cs *chatStream) send(chunk ChatChunk) error {
	chunk.ID, chunk.Object, chunk.Created, chunk.Model = cs.id, "chat.completion.chunk", cs.created, chatModel
	for i := range chunk.Choices {
		chunk.Choices[i].Logprobs = json.RawMessage("null")
	}
	data, err := json.Marshal(chunk)
	if err != nil {
		return err
	}
	return cs.write(data)
}

// write sends one data line (OpenAI's streams name no events).
func (cs *chatStream) write(data []byte) error { return cs.emit("", data) }

// openAIError is an error in OpenAI's shape: {"error": {"message", "type", "param", "code"}},
// with Docent's reason for a 401.
type openAIError struct {
	Error openAIErrorDetail `json:"error"`
}

type openAIErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
	Reason  string  `json:"reason,omitempty"`
}

// toOpenAIError is body, of an error with status, in OpenAI's shape: the code is Docent's,
// the type OpenAI's class of the status.
func toOpenAIError(status int, body errorBody) openAIError {
	e := openAIErrorDetail{Message: body.Error.Message, Code: body.Error.Code, Reason: body.Error.Reason}
	if body.Error.Field != "" {
		e.Param = ptr(body.Error.Field)
	}
	switch {
	case status == http.StatusUnauthorized:
		e.Type = "authentication_error"
	case status == http.StatusForbidden:
		e.Type = "permission_error"
	case status == http.StatusNotFound && body.Error.Code != "model_not_found":
		e.Type = "not_found_error"
	case status == http.StatusTooManyRequests:
		e.Type = "rate_limit_error"
	case status >= 500:
		e.Type = "server_error"
	default:
		e.Type = "invalid_request_error"
	}
	return openAIError{Error: e}
}

// ModelList is the answer to GET /v1/models.
type ModelList struct {
	Object string  `json:"object"` // list
	Data   []Model `json:"data"`
}

// Model is the model Docent serves.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`  // model
	Created int64  `json:"created"` // when this server started, in Unix seconds
	OwnedBy string `json:"owned_by"`
}

func (s *Server) docentModel() Model {
	return Model{ID: chatModel, Object: "model", Created: s.started.Unix(), OwnedBy: "docent"}
}

// models serves GET /v1/models: the one model.
func (s *Server) models(c echo.Context) error {
	return c.JSON(http.StatusOK, ModelList{Object: "list", Data: []Model{s.docentModel()}})
}

// model serves GET /v1/models/:id.
func (s *Server) model(c echo.Context) error {
	if c.Param("id") != chatModel {
		return refuseModel(c.Param("id"))
	}
	return c.JSON(http.StatusOK, s.docentModel())
}
