package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/git-evolve/git-evolve/evolve"
)

// Chat roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one message of a chat conversation.
type Message struct {
	Role    string
	Content string
}

// Budget lets the caller refuse an LLM call before it is made, e.g. when
// budget.max_usd or budget.max_tokens would be passed. The step loop
// implements it; Allow is called before every chat call (not before each
// retry of the same call).
type Budget interface {
	Allow() error
}

// BudgetFunc adapts a function to the Budget interface.
type BudgetFunc func() error

// Allow calls f.
func (f BudgetFunc) Allow() error { return f() }

// ErrNoEndpoint is returned (wrapped, with a hint) by NewLLM when neither a
// key nor a base URL is configured.
var ErrNoEndpoint = errors.New("no LLM endpoint configured")

// ErrBudgetRefused is returned (wrapped, with the Budget's own error) when
// the Budget refused a call.
var ErrBudgetRefused = errors.New("llm call refused by the budget")

// StatusError is an HTTP error answered by the endpoint. Message has the API
// key removed.
type StatusError struct {
	StatusCode int
	Message    string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Message)
}

// AuthError is a 401 or 403 from the endpoint: the key is missing, wrong or
// not allowed to use the model. It is never retried; a run should stop.
type AuthError struct {
	StatusCode int
	KeyEnv     string // the variable the key was read from
	BaseURL    string // with any password removed
	Model      string
	Err        *StatusError
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("LLM endpoint %s refused the request (%v): check the key in $%s (api.key_env) and that it may use model %q (api.model)",
		e.BaseURL, e.Err, e.KeyEnv, e.Model)
}

// Unwrap returns the HTTP error.
func (e *AuthError) Unwrap() error { return e.Err }

// Backoff defaults.
const (
	DefaultBaseBackoff   = time.Second
	DefaultMaxBackoff    = 30 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
)

// LLM is a chat client for any OpenAI-compatible endpoint (OpenAI, vLLM,
// Ollama, LiteLLM…). It retries rate limits, server errors, timeouts and
// connection failures, and never lets the API key into an error.
//
// The exported fields may be changed before the first call; an LLM is safe for
// concurrent use afterwards.
type LLM struct {
	// Budget, when set, is asked before every call.
	Budget Budget
	// Sleep waits d between attempts; tests inject a recorder. It must return
	// early with ctx's error when ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1) that spreads backoffs.
	Jitter func() float64
	// BaseBackoff is the first backoff; it doubles per attempt up to MaxBackoff.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// MaxRetryAfter caps the wait a server may ask for with Retry-After.
	MaxRetryAfter time.Duration

	cfg     evolve.APIConfig
	client  *openai.Client
	baseURL string // for messages, password removed
	key     *apiKey
}

// apiKey is behind a pointer so that printing an LLM with %v or %+v shows an
// address, never the key.
type apiKey struct{ value string }

// NewLLM builds a client from the api section of the configuration. The base
// URL is cfg.BaseURL, else $OPENAI_BASE_URL, else OpenAI's; the key is read
// from the variable named by cfg.KeyEnv (never from a file). A keyless local
// endpoint is allowed when a base URL is set. Without key and base URL the
// error wraps ErrNoEndpoint and says what to set.
func NewLLM(cfg evolve.APIConfig, getenv func(string) string) (*LLM, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if cfg.KeyEnv == "" {
		cfg.KeyEnv = "OPENAI_API_KEY"
	}
	if cfg.Model == "" {
		return nil, errors.New("api.model is empty: name the chat model to use (e.g. gpt-4o-mini)")
	}
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = strings.TrimSpace(getenv("OPENAI_BASE_URL"))
	}
	key := strings.TrimSpace(getenv(cfg.KeyEnv))
	if key == "" && base == "" {
		return nil, fmt.Errorf("%w: set %s (api.key_env) or api.base_url, or run with --offline", ErrNoEndpoint, cfg.KeyEnv)
	}
	oc := openai.DefaultConfig(key)
	display := "https://api.openai.com/v1"
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("api.base_url %q is not an http(s) URL (e.g. http://localhost:8000/v1)", redactURL(base))
		}
		oc.BaseURL = strings.TrimRight(base, "/")
		display = u.Redacted()
	}
	oc.HTTPClient = headerCapture{next: &http.Client{}}
	return &LLM{
		Sleep:         evolve.Sleep,
		Jitter:        rand.Float64,
		BaseBackoff:   DefaultBaseBackoff,
		MaxBackoff:    DefaultMaxBackoff,
		MaxRetryAfter: DefaultMaxRetryAfter,
		cfg:           cfg,
		client:        openai.NewClientWithConfig(oc),
		baseURL:       display,
		key:           &apiKey{key},
	}, nil
}

// Model is the configured chat model (api.model).
func (l *LLM) Model() string { return l.cfg.Model }

// BaseURL is the endpoint, with any password in it removed.
func (l *LLM) BaseURL() string { return l.baseURL }

// Cost is the price in USD of tokens used with model, from api.pricing (USD
// per million tokens). The price of the longest pricing key that is a prefix
// of model applies when there is no exact entry ("gpt-4o" prices
// "gpt-4o-2024-08-06"); an unpriced model costs 0.
func (l *LLM) Cost(model string, t evolve.Tokens) float64 {
	return Cost(l.cfg.Pricing, model, t)
}

// Cost is LLM.Cost for a given price table.
func Cost(pricing map[string]evolve.Price, model string, t evolve.Tokens) float64 {
	p, ok := pricing[model]
	if !ok {
		best := -1
		for name, price := range pricing {
			if strings.HasPrefix(model, name) && len(name) > best {
				best, p, ok = len(name), price, true
			}
		}
	}
	if !ok {
		return 0
	}
	return (float64(t.Prompt)*p.Prompt + float64(t.Completion)*p.Completion) / 1e6
}

// Chat sends messages and returns the first choice's content, the tokens the
// endpoint reported and the finish reason ("stop", "length", …). Each attempt
// is bounded by api.timeout. Rate limits (429), server errors (5xx), timeouts
// and connection failures are retried up to api.retry_times attempts in all,
// with exponential backoff and jitter, or after the server's Retry-After
// (capped by MaxRetryAfter). A 401/403 returns *AuthError at once; another 4xx
// returns *StatusError (wrapped) at once. When ctx ends, its error is returned
// (wrapped). An answer without choices is an empty content, not an error.
func (l *LLM) Chat(ctx context.Context, messages []Message) (content string, usage evolve.Tokens, finish string, err error) {
	if l.Budget != nil {
		if err := l.Budget.Allow(); err != nil {
			return "", evolve.Tokens{}, "", fmt.Errorf("%w: %w", ErrBudgetRefused, err)
		}
	}
	req := l.request(messages)
	attempts := max(1, l.cfg.RetryTimes)
	var last error
	for attempt := 1; ; attempt++ {
		var hdr http.Header
		resp, err := l.attempt(ctx, req, &hdr)
		if err == nil {
			usage = evolve.Tokens{Prompt: int64(resp.Usage.PromptTokens), Completion: int64(resp.Usage.CompletionTokens)}
			if len(resp.Choices) == 0 {
				return "", usage, "", nil
			}
			c := resp.Choices[0]
			return c.Message.Content, usage, string(c.FinishReason), nil
		}
		if ctx.Err() != nil {
			return "", evolve.Tokens{}, "", fmt.Errorf("chat completion with %s at %s: %w", l.cfg.Model, l.baseURL, ctx.Err())
		}
		clean, retry := l.classify(err)
		var se *StatusError
		if errors.As(clean, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden) {
			return "", evolve.Tokens{}, "", &AuthError{StatusCode: se.StatusCode, KeyEnv: l.cfg.KeyEnv, BaseURL: l.baseURL, Model: l.cfg.Model, Err: se}
		}
		if !retry {
			return "", evolve.Tokens{}, "", fmt.Errorf("chat completion with %s at %s: %w", l.cfg.Model, l.baseURL, clean)
		}
		last = clean
		if attempt >= attempts {
			break
		}
		if err := l.Sleep(ctx, l.backoff(attempt, hdr)); err != nil {
			return "", evolve.Tokens{}, "", fmt.Errorf("chat completion with %s at %s: %w", l.cfg.Model, l.baseURL, err)
		}
	}
	return "", evolve.Tokens{}, "", fmt.Errorf("chat completion with %s at %s failed after %d attempt(s) (api.retry_times): %w",
		l.cfg.Model, l.baseURL, attempts, last)
}

// request builds the chat request with only the fields every
// OpenAI-compatible server understands. Reasoning models (o1, o3, gpt-5…)
// refuse max_tokens and temperature; they get max_completion_tokens instead.
func (l *LLM) request(messages []Message) openai.ChatCompletionRequest {
	msgs := make([]openai.ChatCompletionMessage, len(messages))
	for i, m := range messages {
		msgs[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	req := openai.ChatCompletionRequest{Model: l.cfg.Model, Messages: msgs, MaxTokens: l.cfg.MaxTokens}
	req.Temperature = float32(l.cfg.Temperature)
	if l.cfg.Temperature == 0 {
		// go-openai omits a zero temperature, which servers read as 1.
		req.Temperature = math.SmallestNonzeroFloat32
	}
	if openai.NewReasoningValidator().Validate(req) != nil {
		req.MaxCompletionTokens, req.MaxTokens, req.Temperature = req.MaxTokens, 0, 0
	}
	return req
}

func (l *LLM) attempt(ctx context.Context, req openai.ChatCompletionRequest, hdr *http.Header) (openai.ChatCompletionResponse, error) {
	if t := l.cfg.Timeout.D(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	ctx = context.WithValue(ctx, headerKey{}, hdr)
	resp, err := l.client.CreateChatCompletion(ctx, req)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = &timeoutError{after: l.cfg.Timeout.D()}
	}
	return resp, err
}

type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no answer within %s (api.timeout)", e.after)
}

func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// classify turns an error of go-openai into one free of the key, and says
// whether the call may be retried.
func (l *LLM) classify(err error) (error, bool) {
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var te *timeoutError
	switch {
	case errors.As(err, &te):
		return te, true
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode > 0:
		return &StatusError{StatusCode: apiErr.HTTPStatusCode, Message: l.redact(apiErr.Message)}, retryable(apiErr.HTTPStatusCode)
	case errors.As(err, &reqErr):
		// Redact before cutting, so that no part of a key survives the cut.
		body := l.redact(strings.TrimSpace(string(reqErr.Body)))
		if r := []rune(body); len(r) > 300 {
			body = string(r[:300]) + "…"
		}
		return &StatusError{StatusCode: reqErr.HTTPStatusCode, Message: body}, retryable(reqErr.HTTPStatusCode)
	}
	clean := errors.New(l.redact(err.Error()))
	var netErr net.Error
	var urlErr *url.Error
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &netErr), errors.As(err, &urlErr), errors.As(err, &syntaxErr),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// Transport failures, and a body that is not JSON (a proxy's error
		// page, a connection cut mid-answer) are worth another attempt.
		return clean, true
	}
	return clean, false
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// backoff is the wait before attempt+1: the server's Retry-After when it
// gave one, otherwise BaseBackoff·2^(attempt-1) capped at MaxBackoff, with
// jitter over its upper half.
func (l *LLM) backoff(attempt int, hdr http.Header) time.Duration {
	if d, ok := retryAfter(hdr); ok {
		return min(d, l.MaxRetryAfter)
	}
	d := l.BaseBackoff
	for i := 1; i < attempt && d < l.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, l.MaxBackoff)
	return d/2 + time.Duration(l.Jitter()*float64(d/2))
}

// retryAfter reads retry-after-ms (OpenAI) or Retry-After in seconds or as
// an HTTP date.
func retryAfter(h http.Header) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && !math.IsInf(s, 0) {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t)), true
	}
	return 0, false
}

var bearerRe = regexp.MustCompile(`(?i)(bearer\s+)[^\s"',;]+`)

// redact removes the API key, bearer tokens and URL passwords from s.
func (l *LLM) redact(s string) string {
	if l.key != nil && l.key.value != "" {
		s = strings.ReplaceAll(s, l.key.value, "[redacted]")
	}
	s = bearerRe.ReplaceAllString(s, "${1}[redacted]")
	return redactURLs(s)
}

var userinfoRe = regexp.MustCompile(`(://[^/\s:@]*):[^/\s@]*@`)

// redactURLs hides the password of user:password@host in any URL of s.
func redactURLs(s string) string { return userinfoRe.ReplaceAllString(s, "${1}:xxxxx@") }

func redactURL(s string) string { return redactURLs(s) }

// headerKey carries, in a request's context, where to store the response
// headers (Retry-After), which go-openai does not expose on errors.
type headerKey struct{}

type headerCapture struct{ next openai.HTTPDoer }

func (c headerCapture) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if resp != nil {
		if p, ok := req.Context().Value(headerKey{}).(*http.Header); ok {
			*p = resp.Header.Clone()
		}
	}
	return resp, err
}
