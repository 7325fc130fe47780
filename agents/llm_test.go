package agents

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/internal/fakeopenai"
)

const testKey = "sk-test-SECRET-0123456789abcdef"

// sleeps records the waits between attempts instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func testAPIConfig(srv *fakeopenai.Server) evolve.APIConfig {
	cfg := evolve.DefaultConfig("x").API
	cfg.BaseURL = srv.URL()
	cfg.Model = "test-model"
	cfg.Timeout = evolve.Duration(5 * time.Second)
	return cfg
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// newTestLLM builds an LLM on srv whose waits are recorded, with jitter 0.5.
func newTestLLM(t *testing.T, cfg evolve.APIConfig) (*LLM, *sleeps) {
	t.Helper()
	l, err := NewLLM(cfg, env("OPENAI_API_KEY", testKey))
	if err != nil {
		t.Fatal(err)
	}
	s := &sleeps{}
	l.Sleep = s.sleep
	l.Jitter = func() float64 { return 0.5 }
	return l, s
}

func noKey(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testKey) {
		t.Errorf("error contains the API key: %v", err)
	}
}

func TestNewLLMNeedsAnEndpoint(t *testing.T) {
	cfg := evolve.DefaultConfig("x").API
	_, err := NewLLM(cfg, env())
	if !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("err = %v, want ErrNoEndpoint", err)
	}
	want := "no LLM endpoint configured: set OPENAI_API_KEY (api.key_env) or api.base_url, or run with --offline"
	if err.Error() != want {
		t.Errorf("message = %q\nwant      %q", err, want)
	}

	cfg.KeyEnv = "MY_LLM_KEY"
	_, err = NewLLM(cfg, env("OPENAI_API_KEY", "ignored because key_env names another variable"))
	if err == nil || !strings.Contains(err.Error(), "set MY_LLM_KEY (api.key_env)") {
		t.Errorf("custom key_env: err = %v", err)
	}

	cfg.Model = ""
	if _, err := NewLLM(cfg, env("MY_LLM_KEY", "k")); err == nil || !strings.Contains(err.Error(), "api.model") {
		t.Errorf("empty model: err = %v", err)
	}
}

func TestNewLLMBaseURL(t *testing.T) {
	cfg := evolve.DefaultConfig("x").API
	l, err := NewLLM(cfg, env("OPENAI_API_KEY", testKey))
	if err != nil {
		t.Fatal(err)
	}
	if l.BaseURL() != "https://api.openai.com/v1" {
		t.Errorf("default base = %q", l.BaseURL())
	}
	l, err = NewLLM(cfg, env("OPENAI_BASE_URL", "http://localhost:11434/v1"))
	if err != nil {
		t.Fatalf("keyless endpoint from OPENAI_BASE_URL: %v", err)
	}
	if l.BaseURL() != "http://localhost:11434/v1" {
		t.Errorf("base from env = %q", l.BaseURL())
	}
	cfg.BaseURL = "http://user:hunter2@proxy.local:4000/v1"
	l, err = NewLLM(cfg, env("OPENAI_BASE_URL", "http://ignored/v1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.BaseURL(), "hunter2") || !strings.Contains(l.BaseURL(), "proxy.local:4000") {
		t.Errorf("base URL shown as %q, want the config's without its password", l.BaseURL())
	}
	for _, bad := range []string{"localhost:8000", "ftp://x/v1", "http://"} {
		cfg.BaseURL = bad
		if _, err := NewLLM(cfg, env()); err == nil || !strings.Contains(err.Error(), "api.base_url") {
			t.Errorf("base_url %q: err = %v, want it refused naming api.base_url", bad, err)
		}
	}
}

func TestPrintingTheClientShowsNoKey(t *testing.T) {
	l, err := NewLLM(evolve.DefaultConfig("x").API, env("OPENAI_API_KEY", testKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v"} {
		if s := fmt.Sprintf(format, l); strings.Contains(s, testKey) {
			t.Errorf("Sprintf(%q, llm) shows the key", format)
		}
		if s := fmt.Sprintf(format, *l); strings.Contains(s, testKey) {
			t.Errorf("Sprintf(%q, *llm) shows the key", format)
		}
	}
}

func TestChatRequestShape(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{Content: "the answer", PromptTokens: 120, CompletionTokens: 30})
	cfg := testAPIConfig(srv)
	cfg.MaxTokens = 2048
	cfg.Temperature = 0.25
	l, _ := newTestLLM(t, cfg)

	content, usage, finish, err := l.Chat(context.Background(), []Message{
		{Role: RoleSystem, Content: "be brief"}, {Role: RoleUser, Content: "question"}})
	if err != nil {
		t.Fatal(err)
	}
	if content != "the answer" || finish != "stop" || usage != (evolve.Tokens{Prompt: 120, Completion: 30}) {
		t.Errorf("Chat = %q, %+v, %q", content, usage, finish)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("path %q, Authorization %q", r.Path, r.Header.Get("Authorization"))
	}
	c := r.Chat
	if c.Model != "test-model" || c.MaxTokens != 2048 || c.Temperature == nil || math.Abs(*c.Temperature-0.25) > 1e-6 {
		t.Errorf("request = %+v", c)
	}
	if len(c.Messages) != 2 || c.Messages[0] != (fakeopenai.Message{Role: "system", Content: "be brief"}) ||
		c.Messages[1] != (fakeopenai.Message{Role: "user", Content: "question"}) {
		t.Errorf("messages = %+v", c.Messages)
	}
	var fields []string
	for k := range r.Fields {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	if got := strings.Join(fields, ","); got != "max_tokens,messages,model,stream,temperature" {
		t.Errorf("fields sent = %s; only portable fields may be sent", got)
	}
}

func TestChatKeylessEndpointSendsNoAuthorization(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Reply("ok")
	l, err := NewLLM(testAPIConfig(srv), env())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}}); err != nil {
		t.Fatal(err)
	}
	if h := srv.Requests()[0].Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization = %q, want none", h)
	}
}

func TestChatReasoningModelAndZeroTemperature(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Reply("a", "b")
	cfg := testAPIConfig(srv)
	cfg.Model = "o3-mini"
	l, _ := newTestLLM(t, cfg)
	if _, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}}); err != nil {
		t.Fatalf("reasoning model: %v", err)
	}
	r := srv.Requests()[0]
	if _, ok := r.Fields["max_tokens"]; ok || r.Chat.MaxCompletionTokens != cfg.MaxTokens || r.Chat.Temperature != nil {
		t.Errorf("reasoning model request: fields %v, %+v", r.Fields, r.Chat)
	}

	cfg = testAPIConfig(srv)
	cfg.Temperature = 0
	l, _ = newTestLLM(t, cfg)
	if _, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}}); err != nil {
		t.Fatal(err)
	}
	if temp := srv.Requests()[1].Chat.Temperature; temp == nil || *temp > 1e-6 {
		t.Errorf("temperature 0 sent as %v, want (nearly) 0, not omitted", temp)
	}
}

func TestChatRetriesRateLimitHonouringRetryAfter(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(
		fakeopenai.Response{Status: 429, Header: map[string]string{"Retry-After": "7"}},
		fakeopenai.Response{Status: 429, Header: map[string]string{"Retry-After-Ms": "250"}},
		fakeopenai.Response{Content: "finally"},
	)
	l, sl := newTestLLM(t, testAPIConfig(srv))
	content, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	if err != nil || content != "finally" {
		t.Fatalf("Chat = %q, %v", content, err)
	}
	want := []time.Duration{7 * time.Second, 250 * time.Millisecond}
	if got := sl.all(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestChatRetryAfterIsCapped(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{Status: 503, Header: map[string]string{"Retry-After": "86400"}}, fakeopenai.Response{Content: "ok"})
	l, sl := newTestLLM(t, testAPIConfig(srv))
	l.MaxRetryAfter = 5 * time.Second
	if _, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}}); err != nil {
		t.Fatal(err)
	}
	if got := sl.all(); len(got) != 1 || got[0] != 5*time.Second {
		t.Errorf("waits = %v, want [5s]", got)
	}
}

func TestChatServerErrorsGiveUpAfterRetryTimes(t *testing.T) {
	srv := fakeopenai.New(t)
	for range 3 {
		srv.Enqueue(fakeopenai.Response{Status: 500, ErrorMessage: "boom; your key " + testKey + " Bearer " + testKey})
	}
	cfg := testAPIConfig(srv)
	cfg.RetryTimes = 3
	l, sl := newTestLLM(t, cfg)
	l.BaseBackoff = time.Second
	_, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	if err == nil {
		t.Fatal("three 500s succeeded")
	}
	noKey(t, err)
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 (api.retry_times)", n)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 || !strings.Contains(err.Error(), "3 attempt") {
		t.Errorf("err = %v, want a StatusError 500 after 3 attempts", err)
	}
	// Exponential backoff with jitter 0.5 over the upper half: 0.75·1s, 0.75·2s.
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}
	if got := sl.all(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	l := &LLM{BaseBackoff: time.Second, MaxBackoff: 4 * time.Second, MaxRetryAfter: time.Minute, Jitter: func() float64 { return 0 }}
	var got []time.Duration
	for a := 1; a <= 5; a++ {
		got = append(got, l.backoff(a, nil))
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs = %v, want %v", got, want)
		}
	}
	l.Jitter = func() float64 { return 0.999 }
	if d := l.backoff(10, nil); d > 4*time.Second || d < 3900*time.Millisecond {
		t.Errorf("capped backoff with high jitter = %v", d)
	}
	l.Jitter = func() float64 { return 0 }
	h := http.Header{}
	h.Set("Retry-After", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
	if d := l.backoff(1, h); d != 0 {
		t.Errorf("Retry-After date in the past gives %v, want 0", d)
	}
	h.Set("Retry-After", "soon")
	if d := l.backoff(1, h); d != 500*time.Millisecond {
		t.Errorf("unparseable Retry-After gives %v, want the normal backoff", d)
	}
}

func TestChatTimeoutOnHangingServer(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{Hang: true}, fakeopenai.Response{Content: "awake"})
	cfg := testAPIConfig(srv)
	cfg.Timeout = evolve.Duration(50 * time.Millisecond)
	cfg.RetryTimes = 2
	l, _ := newTestLLM(t, cfg)
	content, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	if err != nil || content != "awake" {
		t.Fatalf("hang then answer: %q, %v", content, err)
	}

	srv.Enqueue(fakeopenai.Response{Hang: true}, fakeopenai.Response{Hang: true})
	_, _, _, err = l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "api.timeout") {
		t.Errorf("hanging twice: err = %v, want a timeout naming api.timeout", err)
	}
}

func TestChatAuthErrorIsNotRetried(t *testing.T) {
	for _, status := range []int{401, 403} {
		srv := fakeopenai.New(t)
		srv.Enqueue(fakeopenai.Response{Status: status, ErrorMessage: "Incorrect API key provided: " + testKey})
		l, sl := newTestLLM(t, testAPIConfig(srv))
		_, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
		var ae *AuthError
		if !errors.As(err, &ae) || ae.StatusCode != status {
			t.Fatalf("status %d: err = %v, want *AuthError", status, err)
		}
		noKey(t, err)
		if !strings.Contains(err.Error(), "OPENAI_API_KEY") || !strings.Contains(err.Error(), "api.key_env") {
			t.Errorf("auth error lacks the hint: %v", err)
		}
		if n := len(srv.Requests()); n != 1 || len(sl.all()) != 0 {
			t.Errorf("status %d: %d requests, %d waits; want 1 and none", status, n, len(sl.all()))
		}
	}
}

func TestChatWithRealKeyCheck(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.RequireKey("the-right-key")
	l, _ := newTestLLM(t, testAPIConfig(srv))
	_, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("wrong key: err = %v, want *AuthError", err)
	}
}

func TestChatClientErrorIsNotRetried(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{Status: 400, ErrorMessage: "context length exceeded"})
	l, sl := newTestLLM(t, testAPIConfig(srv))
	_, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(err.Error(), "context length exceeded") {
		t.Fatalf("err = %v", err)
	}
	if len(sl.all()) != 0 {
		t.Errorf("a 400 was retried")
	}
}

func TestChatRetriesNonJSONAndConnectionErrors(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{Status: 200, Body: "<html>bad gateway " + testKey + "</html>", Header: map[string]string{"Content-Type": "text/html"}},
		fakeopenai.Response{Content: "ok"})
	l, _ := newTestLLM(t, testAPIConfig(srv))
	if content, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}}); err != nil || content != "ok" {
		t.Fatalf("non-JSON then ok: %q, %v", content, err)
	}

	dead, err := fakeopenai.Start()
	if err != nil {
		t.Fatal(err)
	}
	dead.Close()
	cfg := testAPIConfig(dead)
	cfg.RetryTimes = 2
	l, sl := newTestLLM(t, cfg)
	_, _, _, err = l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	if err == nil || !strings.Contains(err.Error(), "2 attempt") || len(sl.all()) != 1 {
		t.Errorf("connection refused: err = %v, waits %v", err, sl.all())
	}
	noKey(t, err)
}

func TestChatStopsWhenContextEnds(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{Status: 503})
	l, _ := newTestLLM(t, testAPIConfig(srv))
	ctx, cancel := context.WithCancel(context.Background())
	l.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return evolve.Sleep(ctx, d)
	}
	_, _, _, err := l.Chat(ctx, []Message{{Role: RoleUser, Content: "x"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests after cancellation, want 1", n)
	}
}

func TestChatBudgetRefusesBeforeTheCall(t *testing.T) {
	srv := fakeopenai.New(t)
	l, _ := newTestLLM(t, testAPIConfig(srv))
	over := errors.New("budget.max_usd reached")
	l.Budget = BudgetFunc(func() error { return over })
	_, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	if !errors.Is(err, ErrBudgetRefused) || !errors.Is(err, over) {
		t.Errorf("err = %v, want both ErrBudgetRefused and the budget's error", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent despite the budget", n)
	}
}

func TestChatNoChoices(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{NoChoices: true, PromptTokens: 9, CompletionTokens: 1})
	l, _ := newTestLLM(t, testAPIConfig(srv))
	content, usage, finish, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	if err != nil || content != "" || finish != "" || usage.Prompt != 9 {
		t.Errorf("no choices: %q %+v %q %v", content, usage, finish, err)
	}
}

func TestCost(t *testing.T) {
	pricing := map[string]evolve.Price{
		"gpt-4o":      {Prompt: 2.5, Completion: 10},
		"gpt-4o-mini": {Prompt: 0.15, Completion: 0.6},
	}
	tok := evolve.Tokens{Prompt: 1_000_000, Completion: 500_000}
	for _, tc := range []struct {
		model string
		want  float64
	}{
		{"gpt-4o", 2.5 + 5},
		{"gpt-4o-mini", 0.15 + 0.3},
		{"gpt-4o-mini-2024-07-18", 0.15 + 0.3}, // longest prefix wins
		{"gpt-4o-2024-08-06", 2.5 + 5},
		{"llama3", 0},
		{"", 0},
	} {
		if got := Cost(pricing, tc.model, tok); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Cost(%q) = %v, want %v", tc.model, got, tc.want)
		}
	}
	if got := Cost(nil, "gpt-4o", tok); got != 0 {
		t.Errorf("Cost without pricing = %v", got)
	}
	l := &LLM{cfg: evolve.APIConfig{Pricing: pricing}}
	if got := l.Cost("gpt-4o", evolve.Tokens{Prompt: 1000}); math.Abs(got-0.0025) > 1e-12 {
		t.Errorf("LLM.Cost = %v", got)
	}
}

func TestRedact(t *testing.T) {
	l := &LLM{key: &apiKey{testKey}}
	in := `key ` + testKey + ` header "Authorization: Bearer abc.def-ghi" url https://bob:pw123@host/v1`
	out := l.redact(in)
	for _, secret := range []string{testKey, "abc.def-ghi", "pw123"} {
		if strings.Contains(out, secret) {
			t.Errorf("redact left %q in %q", secret, out)
		}
	}
	if !strings.Contains(out, "https://bob:xxxxx@host/v1") {
		t.Errorf("redact = %q", out)
	}
}

func TestChatErrorBodyNeverShowsTheKey(t *testing.T) {
	srv := fakeopenai.New(t)
	page := "<html>" + strings.Repeat("proxy error ", 24) + "Authorization: Bearer " + testKey + " key=" + testKey + "</html>"
	srv.Enqueue(fakeopenai.Response{Status: 502, Body: page, Header: map[string]string{"Content-Type": "text/html"}})
	cfg := testAPIConfig(srv)
	cfg.RetryTimes = 1
	l, _ := newTestLLM(t, cfg)
	_, _, _, err := l.Chat(context.Background(), []Message{{Role: RoleUser, Content: "x"}})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 502 {
		t.Fatalf("err = %v, want a StatusError 502", err)
	}
	noKey(t, err)
	if strings.Contains(err.Error(), testKey[:12]) {
		t.Errorf("part of the key survived: %v", err)
	}
}
