package fakeopenai

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

func client(s *Server, key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = s.URL()
	return openai.NewClientWithConfig(cfg)
}

func chat(t *testing.T, c *openai.Client, text string) (openai.ChatCompletionResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model:    "test-model",
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: text}},
	})
}

func TestScriptedChatIsShapedLikeTheAPI(t *testing.T) {
	s := New(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/v1") {
		t.Fatalf("URL() = %q, want http://127.0.0.1:port/v1", s.URL())
	}
	s.Enqueue(Response{Content: "hello there", FinishReason: "length", PromptTokens: 11, CompletionTokens: 7})
	s.Reply("second")

	resp, err := chat(t, client(s, "sk-test"), "hi")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Object != "chat.completion" || resp.ID == "" || resp.Created == 0 || resp.Model != "test-model" {
		t.Errorf("envelope = %+v", resp)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "hello there" ||
		resp.Choices[0].Message.Role != "assistant" || resp.Choices[0].FinishReason != "length" {
		t.Errorf("choices = %+v", resp.Choices)
	}
	if resp.Usage.PromptTokens != 11 || resp.Usage.CompletionTokens != 7 || resp.Usage.TotalTokens != 18 {
		t.Errorf("usage = %+v", resp.Usage)
	}

	resp, err = chat(t, client(s, "sk-test"), "again please")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "second" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("second reply = %+v", resp.Choices[0])
	}
	if resp.Usage.CompletionTokens != 1 || resp.Usage.PromptTokens == 0 {
		t.Errorf("estimated usage = %+v", resp.Usage)
	}

	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("recorded %d requests, want 2", len(reqs))
	}
	r := reqs[1]
	if r.Method != http.MethodPost || r.Path != "/v1/chat/completions" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
		t.Errorf("Authorization = %q", got)
	}
	if r.Chat == nil || r.Chat.Model != "test-model" || r.Chat.Last() != "again please" {
		t.Errorf("decoded chat = %+v", r.Chat)
	}
	if _, ok := r.Fields["messages"]; !ok {
		t.Errorf("Fields lacks messages: %v", r.Fields)
	}
}

func TestErrorStatusAndHeaders(t *testing.T) {
	s := New(t)
	s.Enqueue(Response{Status: 429, Header: map[string]string{"Retry-After": "3"}, ErrorMessage: "slow down"})
	_, err := chat(t, client(s, "k"), "x")
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 429 || apiErr.Message != "slow down" {
		t.Fatalf("err = %v, want APIError 429 slow down", err)
	}
}

func TestRequireKey(t *testing.T) {
	s := New(t)
	s.RequireKey("right")
	s.Reply("ok")
	_, err := chat(t, client(s, "wrong"), "x")
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 401 {
		t.Fatalf("wrong key: err = %v, want 401", err)
	}
	if _, err := chat(t, client(s, "right"), "x"); err != nil {
		t.Fatalf("right key: %v", err)
	}
}

func TestHangReleasedByClientTimeout(t *testing.T) {
	s := New(t)
	s.Enqueue(Response{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := client(s, "k").CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: "m", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestCloseReleasesHangingHandler(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	s.Enqueue(Response{Hang: true})
	done := make(chan error, 1)
	go func() {
		_, err := client(s, "k").CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
			Model: "m", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}})
		done <- err
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("hanging request succeeded after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not release the hanging request")
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check after consuming the script: %v", err)
	}
}

func TestCheckReportsUnconsumedAndUnexpected(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	s.Reply("never asked for")
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), "never requested") {
		t.Errorf("Check with an unconsumed reply = %v", err)
	}
	if _, err := chat(t, client(s, "k"), "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := chat(t, client(s, "k"), "one too many"); err == nil {
		t.Error("request beyond the script succeeded")
	}
	err = s.Check()
	if err == nil || !strings.Contains(err.Error(), "unexpected request") || !strings.Contains(err.Error(), "one too many") {
		t.Errorf("Check after an unscripted request = %v", err)
	}
}

func TestDefaultResponder(t *testing.T) {
	s := New(t)
	s.SetDefault(func(r Request) Response { return Response{Content: "echo: " + r.Chat.Last()} })
	s.Reply("scripted first")
	c := client(s, "k")
	for i, want := range []string{"scripted first", "echo: b", "echo: c"} {
		resp, err := chat(t, c, string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != want {
			t.Errorf("reply %d = %q, want %q", i, got, want)
		}
	}
}

func TestDelay(t *testing.T) {
	s := New(t)
	s.Enqueue(Response{Content: "late", Delay: 30 * time.Millisecond})
	start := time.Now()
	resp, err := chat(t, client(s, "k"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 30*time.Millisecond || resp.Choices[0].Message.Content != "late" {
		t.Errorf("delayed reply came too early or wrong: %+v", resp.Choices)
	}
}

func TestEnqueueJSONL(t *testing.T) {
	s := New(t)
	script := `# a comment
{"content":"first"}

{"status":503,"delay":"1ms"}
{"content":"cut","finish_reason":"length","delay":1000}
`
	if err := s.EnqueueJSONL(strings.NewReader(script)); err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 3 {
		t.Fatalf("Pending = %d, want 3", s.Pending())
	}
	c := client(s, "k")
	if r, err := chat(t, c, "x"); err != nil || r.Choices[0].Message.Content != "first" {
		t.Fatalf("first = %+v, %v", r, err)
	}
	var apiErr *openai.APIError
	if _, err := chat(t, c, "x"); !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 503 {
		t.Fatalf("second err = %v, want 503", err)
	}
	if r, err := chat(t, c, "x"); err != nil || r.Choices[0].FinishReason != "length" {
		t.Fatalf("third = %+v, %v", r, err)
	}
	if err := s.EnqueueJSONL(strings.NewReader("{not json}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad script error = %v, want it to name line 1", err)
	}
}

func TestEmbeddings(t *testing.T) {
	s := New(t)
	c := client(s, "k")
	ctx := context.Background()
	resp, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{
		Model: "emb", Input: []string{"sorting numbers fast", "fast sorting of numbers", "banana bread recipe"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 3 || len(resp.Data[0].Embedding) != DefaultDimension || resp.Data[2].Index != 2 {
		t.Fatalf("embeddings shape: %d vectors", len(resp.Data))
	}
	near, _ := resp.Data[0].DotProduct(&resp.Data[1])
	far, _ := resp.Data[0].DotProduct(&resp.Data[2])
	if near < 0.8 || far >= near {
		t.Errorf("similarities: same words %.3f, unrelated %.3f", near, far)
	}

	again, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Model: "emb", Input: "sorting numbers fast", Dimensions: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Data) != 1 || len(again.Data[0].Embedding) != 8 {
		t.Fatalf("single input with dimensions 8: %+v", again.Data)
	}

	b64, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Model: "emb", Input: []string{"sorting numbers fast"},
		EncodingFormat: openai.EmbeddingEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range b64.Data[0].Embedding {
		if f != resp.Data[0].Embedding[i] {
			t.Fatalf("base64 vector differs at %d", i)
		}
	}

	s.SetEmbedder(2, func(text string, dim int) []float32 { return []float32{float32(len(text)), float32(dim)} })
	s.EnqueueEmbeddings(Response{Status: 500}, Response{})
	if _, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Model: "emb", Input: "abc"}); err == nil {
		t.Fatal("scripted 500 for embeddings did not fail")
	}
	custom, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Model: "emb", Input: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if got := custom.Data[0].Embedding; len(got) != 2 || got[0] != 3 || got[1] != 2 {
		t.Errorf("custom embedder vector = %v", got)
	}
	if reqs := s.Requests(); reqs[len(reqs)-1].Embedding == nil || reqs[len(reqs)-1].Embedding.Input[0] != "abc" {
		t.Errorf("embedding request not decoded: %+v", reqs[len(reqs)-1])
	}
}

func TestBagOfWords(t *testing.T) {
	for _, text := range []string{"", "  ", "!!!"} {
		for _, f := range BagOfWords(text, 16) {
			if f != 0 {
				t.Errorf("BagOfWords(%q) is not the zero vector", text)
				break
			}
		}
	}
	a, b := BagOfWords("Alpha beta", 16), BagOfWords("beta ALPHA", 16)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("word order or case changed the vector")
		}
	}
	if len(BagOfWords("x", 0)) != DefaultDimension {
		t.Error("dimension 0 does not fall back to the default")
	}
}

func TestUnknownRouteFailsCheck(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get(s.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status = %d, want 404", resp.StatusCode)
	}
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), "/v1/models") {
		t.Errorf("Check = %v, want the unknown route named", err)
	}
}
