// Package fakeopenai is an OpenAI-compatible HTTP server for tests. It serves
// POST /v1/chat/completions and POST /v1/embeddings with bodies shaped like the
// real API (id, object, created, model, choices, usage), answers chat requests
// from a per-test script of responses, computes embeddings deterministically,
// and records every request it receives so a test can assert on the model,
// the messages and the Authorization header that were sent.
//
// A scripted response that is never requested, or a request that arrives when
// nothing is scripted and no default responder is set, fails the test at
// Cleanup: a stub registered but never called is a bug in the test or in the
// code under test.
//
// Tests use New(t). Harnesses without a *testing.T (testscript setups) use
// Start, hand URL() to the command under test, and call Close, then Check.
package fakeopenai

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// Response is one scripted answer. The zero value answers 200 with an empty
// assistant message and finish_reason "stop".
type Response struct {
	// Content is the assistant message (chat completions only).
	Content string `json:"content,omitempty"`
	// FinishReason defaults to "stop"; "length" simulates a truncated reply.
	FinishReason string `json:"finish_reason,omitempty"`
	// Status is the HTTP status code; 0 means 200. A status of 400 or more
	// answers with an OpenAI-shaped error body unless Body is set.
	Status int `json:"status,omitempty"`
	// Body, when set, is sent verbatim instead of the generated JSON.
	Body string `json:"body,omitempty"`
	// Header is added to the response (e.g. "Retry-After": "2").
	Header map[string]string `json:"header,omitempty"`
	// ErrorMessage is the message of the generated error body.
	ErrorMessage string `json:"error_message,omitempty"`
	// Delay is waited before answering (cut short if the client goes away).
	Delay time.Duration `json:"delay,omitempty"`
	// Hang never answers: the handler returns only when the client gives up
	// or the server is closed.
	Hang bool `json:"hang,omitempty"`
	// PromptTokens and CompletionTokens are reported in usage; when zero they
	// are estimated (one token per word).
	PromptTokens     int `json:"prompt_tokens,omitempty"`
	CompletionTokens int `json:"completion_tokens,omitempty"`
	// NoChoices answers 200 with an empty choices list.
	NoChoices bool `json:"no_choices,omitempty"`
}

// Message is one chat message of a request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is the decoded body of a chat completion request.
type ChatRequest struct {
	Model               string    `json:"model"`
	Messages            []Message `json:"messages"`
	Temperature         *float64  `json:"temperature,omitempty"`
	MaxTokens           int       `json:"max_tokens,omitempty"`
	MaxCompletionTokens int       `json:"max_completion_tokens,omitempty"`
	Stream              bool      `json:"stream,omitempty"`
}

// Last returns the content of the last message, or "".
func (c ChatRequest) Last() string {
	if len(c.Messages) == 0 {
		return ""
	}
	return c.Messages[len(c.Messages)-1].Content
}

// EmbeddingRequest is the decoded body of an embeddings request.
type EmbeddingRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"-"` // string or list of strings, normalised
	EncodingFormat string   `json:"encoding_format,omitempty"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Fields is the body decoded as a JSON object (nil when it is not one), so
	// a test can check that no unexpected field was sent.
	Fields    map[string]json.RawMessage
	Chat      *ChatRequest      // set for /v1/chat/completions
	Embedding *EmbeddingRequest // set for /v1/embeddings
}

// Responder answers a chat request when the script is empty.
type Responder func(Request) Response

// Embedder maps a text to a vector of the given dimension.
type Embedder func(text string, dim int) []float32

// Server is a running fake endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu         sync.Mutex
	chat       []Response
	embed      []Response
	def        Responder
	embedder   Embedder
	dim        int
	apiKey     string
	requests   []Request
	unexpected []string
	seq        int
}

// DefaultDimension is the dimension of embeddings unless SetEmbedder or the
// request's "dimensions" field says otherwise.
const DefaultDimension = 64

// Start starts a server on 127.0.0.1. The caller must Close it.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakeopenai: listen on 127.0.0.1: %w", err)
	}
	s := &Server{closing: make(chan struct{}), embedder: BagOfWords, dim: DefaultDimension}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", s.handleChat)
	mux.HandleFunc("/v1/embeddings", s.handleEmbeddings)
	mux.HandleFunc("/", s.handleUnknown)
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	s.srv.Start()
	return s, nil
}

// New starts a server for the test t and registers its shutdown, and the
// check that every scripted response was consumed, with t.Cleanup.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if err := s.Check(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// URL is the base URL of the API, ending in /v1 (what OPENAI_BASE_URL and
// api.base_url take).
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close stops the server; hanging handlers are released first.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// Check reports scripted responses that were never requested and requests
// that arrived with nothing to answer them.
func (s *Server) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if n := len(s.chat); n > 0 {
		errs = append(errs, fmt.Errorf("fakeopenai: %d scripted chat response(s) never requested (next: %s)", n, describe(s.chat[0])))
	}
	if n := len(s.embed); n > 0 {
		errs = append(errs, fmt.Errorf("fakeopenai: %d scripted embeddings response(s) never requested", n))
	}
	for _, u := range s.unexpected {
		errs = append(errs, fmt.Errorf("fakeopenai: unexpected request: %s", u))
	}
	return errors.Join(errs...)
}

func describe(r Response) string {
	switch {
	case r.Hang:
		return "hang"
	case r.Status >= 400:
		return "status " + strconv.Itoa(r.Status)
	}
	c := r.Content
	if len(c) > 40 {
		c = c[:40] + "…"
	}
	return strconv.Quote(c)
}

// Enqueue appends chat responses to the script; requests consume them in order.
func (s *Server) Enqueue(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chat = append(s.chat, rs...)
}

// Reply enqueues successful chat answers with the given contents.
func (s *Server) Reply(contents ...string) {
	for _, c := range contents {
		s.Enqueue(Response{Content: c})
	}
}

// EnqueueEmbeddings scripts the next embeddings answers. Only Status, Body,
// Header, ErrorMessage, Delay and Hang are used; a 200 answer still carries
// the computed vectors.
func (s *Server) EnqueueEmbeddings(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.embed = append(s.embed, rs...)
}

// EnqueueJSONL reads one Response per line (JSON objects; blank lines and
// lines starting with # are skipped), so a testscript archive can hold the
// script of a run. Delay takes nanoseconds or a Go duration string.
func (s *Server) EnqueueJSONL(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var raw struct {
			Response
			Delay json.RawMessage `json:"delay,omitempty"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return fmt.Errorf("fakeopenai script line %d: %w", n, err)
		}
		resp := raw.Response
		if len(raw.Delay) > 0 {
			d, err := parseDelay(raw.Delay)
			if err != nil {
				return fmt.Errorf("fakeopenai script line %d: delay: %w", n, err)
			}
			resp.Delay = d
		}
		s.Enqueue(resp)
	}
	return sc.Err()
}

func parseDelay(raw json.RawMessage) (time.Duration, error) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return time.ParseDuration(str)
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s is neither a duration string nor nanoseconds", raw)
	}
	return time.Duration(n), nil
}

// SetDefault answers chat requests with f when the script is empty. With a
// default responder, an empty script is not an error.
func (s *Server) SetDefault(f Responder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = f
}

// SetEmbedder replaces the embedding function and the default dimension.
func (s *Server) SetEmbedder(dim int, f Embedder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f != nil {
		s.embedder = f
	}
	if dim > 0 {
		s.dim = dim
	}
}

// RequireKey makes every request without "Authorization: Bearer key" fail
// with 401, like the real API. An empty key accepts any request.
func (s *Server) RequireKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// Requests returns a copy of the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ChatRequests returns the decoded chat requests received so far.
func (s *Server) ChatRequests() []ChatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ChatRequest
	for _, r := range s.requests {
		if r.Chat != nil {
			out = append(out, *r.Chat)
		}
	}
	return out
}

// Pending is the number of scripted chat responses not yet consumed.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chat)
}

// record stores the request and decides whether the key is acceptable.
func (s *Server) record(r *http.Request) (Request, bool, error) {
	body, err := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if err == nil {
		var fields map[string]json.RawMessage
		if json.Unmarshal(body, &fields) == nil {
			req.Fields = fields
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	authorized := s.apiKey == "" || r.Header.Get("Authorization") == "Bearer "+s.apiKey
	return req, authorized, err
}

func (s *Server) append(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}

func (s *Server) handleUnknown(w http.ResponseWriter, r *http.Request) {
	req, _, _ := s.record(r)
	s.append(req)
	s.mu.Lock()
	s.unexpected = append(s.unexpected, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	writeError(w, http.StatusNotFound, "fakeopenai: no route for "+r.Method+" "+r.URL.Path, "invalid_request_error")
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	req, authorized, err := s.record(r)
	if err == nil {
		var chat ChatRequest
		if err = json.Unmarshal(req.Body, &chat); err == nil {
			req.Chat = &chat
		}
	}
	s.append(req)
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "use POST", "invalid_request_error")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "fakeopenai: body is not a chat completion request: "+err.Error(), "invalid_request_error")
		return
	}
	if !authorized {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error")
		return
	}

	s.mu.Lock()
	var resp Response
	switch {
	case len(s.chat) > 0:
		resp = s.chat[0]
		s.chat = s.chat[1:]
	case s.def != nil:
		def := s.def
		s.mu.Unlock()
		resp = def(req)
		s.mu.Lock()
	default:
		s.unexpected = append(s.unexpected, fmt.Sprintf("POST %s with no scripted response (last message: %.60q)", r.URL.Path, req.Chat.Last()))
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "fakeopenai: no scripted response left", "server_error")
		return
	}
	seq := s.seq
	s.mu.Unlock()

	if !s.wait(r, resp) {
		return
	}
	if s.writeScripted(w, resp) {
		return
	}
	finish := resp.FinishReason
	if finish == "" {
		finish = "stop"
	}
	prompt := resp.PromptTokens
	if prompt == 0 {
		for _, m := range req.Chat.Messages {
			prompt += countWords(m.Content) + 4
		}
	}
	completion := resp.CompletionTokens
	if completion == 0 {
		completion = countWords(resp.Content)
	}
	choices := []any{}
	if !resp.NoChoices {
		choices = append(choices, map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": resp.Content},
			"finish_reason": finish,
			"logprobs":      nil,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      fmt.Sprintf("chatcmpl-fake%06d", seq),
		"object":  "chat.completion",
		"created": 1700000000 + seq,
		"model":   req.Chat.Model,
		"choices": choices,
		"usage": map[string]any{
			"prompt_tokens":     prompt,
			"completion_tokens": completion,
			"total_tokens":      prompt + completion,
		},
	})
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	req, authorized, err := s.record(r)
	var er *EmbeddingRequest
	if err == nil {
		er, err = decodeEmbedding(req.Body)
		req.Embedding = er
	}
	s.append(req)
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "use POST", "invalid_request_error")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "fakeopenai: body is not an embeddings request: "+err.Error(), "invalid_request_error")
		return
	}
	if !authorized {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error")
		return
	}
	s.mu.Lock()
	var resp Response
	if len(s.embed) > 0 {
		resp = s.embed[0]
		s.embed = s.embed[1:]
	}
	embedder, dim := s.embedder, s.dim
	s.mu.Unlock()
	if !s.wait(r, resp) {
		return
	}
	if s.writeScripted(w, resp) {
		return
	}
	if er.Dimensions > 0 {
		dim = er.Dimensions
	}
	data := make([]any, len(er.Input))
	tokens := 0
	for i, text := range er.Input {
		vec := embedder(text, dim)
		tokens += countWords(text)
		var emb any = vec
		if er.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "embedding": emb, "index": i}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"model":  er.Model,
		"usage":  map[string]any{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

func decodeEmbedding(body []byte) (*EmbeddingRequest, error) {
	var raw struct {
		EmbeddingRequest
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	er := raw.EmbeddingRequest
	var one string
	if err := json.Unmarshal(raw.Input, &one); err == nil {
		er.Input = []string{one}
		return &er, nil
	}
	if err := json.Unmarshal(raw.Input, &er.Input); err != nil {
		return nil, fmt.Errorf("input must be a string or a list of strings: %w", err)
	}
	return &er, nil
}

// wait applies Delay and Hang; it reports false when the client went away or
// the server is closing.
func (s *Server) wait(r *http.Request, resp Response) bool {
	if resp.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return false
	}
	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-s.closing:
			return false
		}
	}
	return true
}

// writeScripted writes headers, and a verbatim body or an error status; it
// reports whether the response is complete.
func (s *Server) writeScripted(w http.ResponseWriter, resp Response) bool {
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.Body != "" {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp.Body)
		return true
	}
	if status >= 400 {
		msg := resp.ErrorMessage
		if msg == "" {
			msg = http.StatusText(status)
		}
		typ := "server_error"
		switch {
		case status == http.StatusTooManyRequests:
			typ = "rate_limit_error"
		case status < 500:
			typ = "invalid_request_error"
		}
		writeError(w, status, msg, typ)
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, msg, typ string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": nil,
	}})
}

func countWords(s string) int { return len(strings.Fields(s)) }

// BagOfWords is the default Embedder: each lower-cased word (letters and
// digits) is hashed into a signed bucket, and the vector is L2-normalised, so
// texts sharing words have a positive cosine similarity. Empty text gives the
// zero vector.
func BagOfWords(text string, dim int) []float32 {
	if dim <= 0 {
		dim = DefaultDimension
	}
	v := make([]float32, dim)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, word := range words {
		h := fnv.New64a()
		_, _ = h.Write([]byte(word))
		x := h.Sum64()
		sign := float32(1)
		if x>>63 == 1 {
			sign = -1
		}
		v[x%uint64(dim)] += sign
	}
	var norm float64
	for _, f := range v {
		norm += float64(f) * float64(f)
	}
	if norm > 0 {
		n := float32(math.Sqrt(norm))
		for i := range v {
			v[i] /= n
		}
	}
	return v
}
