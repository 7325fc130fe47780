package cognition

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/git-evolve/git-evolve/evolve"
)

// Embedder turns texts into vectors. Vectors of one Embedder all have the
// same length; a different Name means vectors that cannot be compared.
type Embedder interface {
	// Name identifies the model; it keys the embedding cache.
	Name() string
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// maxEmbedChars bounds each text sent to a remote model (about 2,000
// tokens), well inside the input limit of common embedding models.
const maxEmbedChars = 8000

// embedBatch is the number of texts per embeddings request.
const embedBatch = 64

// OpenAIEmbedder calls an OpenAI-compatible /embeddings endpoint.
type OpenAIEmbedder struct {
	client  *openai.Client
	model   string
	baseURL string
	retries int
	sleep   func(context.Context, time.Duration) error
}

// OpenAIOptions configures NewOpenAIEmbedder.
type OpenAIOptions struct {
	Model   string
	BaseURL string // ends in /v1; "" means OpenAI's
	Key     string // may be empty for local servers
	// HTTPClient defaults to a client with Timeout.
	HTTPClient *http.Client
	Timeout    time.Duration
	// Retries is how many times a request that failed with a rate limit, a
	// server error or a transport error is repeated (with backoff).
	Retries int
}

// NewOpenAIEmbedder returns an embedder for model on an OpenAI-compatible
// endpoint. The key is only ever sent in the Authorization header.
func NewOpenAIEmbedder(o OpenAIOptions) *OpenAIEmbedder {
	cfg := openai.DefaultConfig(o.Key)
	if o.BaseURL != "" {
		cfg.BaseURL = o.BaseURL
	}
	hc := o.HTTPClient
	if hc == nil {
		timeout := o.Timeout
		if timeout <= 0 {
			timeout = 120 * time.Second
		}
		hc = &http.Client{Timeout: timeout}
	}
	cfg.HTTPClient = hc
	return &OpenAIEmbedder{client: openai.NewClientWithConfig(cfg), model: o.Model, baseURL: cfg.BaseURL,
		retries: max(0, o.Retries), sleep: evolve.Sleep}
}

// Name is the model name.
func (e *OpenAIEmbedder) Name() string { return e.model }

// Embed sends the texts in batches of 64, each cut to 8,000 characters.
func (e *OpenAIEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += embedBatch {
		batch := texts[start:min(start+embedBatch, len(texts))]
		input := make([]string, len(batch))
		for i, t := range batch {
			input[i] = truncateRunes(t, maxEmbedChars)
			if input[i] == "" {
				input[i] = " " // the API refuses empty strings
			}
		}
		vecs, err := e.embedBatch(ctx, input)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func (e *OpenAIEmbedder) embedBatch(ctx context.Context, input []string) ([][]float32, error) {
	req := openai.EmbeddingRequestStrings{Input: input, Model: openai.EmbeddingModel(e.model)}
	var resp openai.EmbeddingResponse
	var err error
	for attempt := 0; ; attempt++ {
		resp, err = e.client.CreateEmbeddings(ctx, req)
		if err == nil || attempt >= e.retries || !retryable(err) || ctx.Err() != nil {
			break
		}
		if e.sleep(ctx, time.Duration(1<<attempt)*500*time.Millisecond) != nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("embeddings request to %s (model %q) failed: %w; check cognition.embedding.model and base_url, or unset cognition.embedding.model to use the offline embedder", e.baseURL, e.model, err)
	}
	if len(resp.Data) != len(input) {
		return nil, fmt.Errorf("embeddings endpoint %s (model %q) returned %d vectors for %d texts", e.baseURL, e.model, len(resp.Data), len(input))
	}
	sort.SliceStable(resp.Data, func(i, j int) bool { return resp.Data[i].Index < resp.Data[j].Index })
	vecs := make([][]float32, len(input))
	for i, d := range resp.Data {
		if d.Index != i {
			return nil, fmt.Errorf("embeddings endpoint %s (model %q) returned indexes that are not 0..%d", e.baseURL, e.model, len(input)-1)
		}
		if len(d.Embedding) == 0 {
			return nil, fmt.Errorf("embeddings endpoint %s (model %q) returned an empty vector", e.baseURL, e.model)
		}
		if i > 0 && len(d.Embedding) != len(vecs[0]) {
			return nil, fmt.Errorf("embeddings endpoint %s (model %q) returned vectors of different lengths (%d and %d)", e.baseURL, e.model, len(vecs[0]), len(d.Embedding))
		}
		vecs[i] = d.Embedding
	}
	return vecs, nil
}

// retryable reports whether a failed request may succeed when repeated.
func retryable(err error) bool {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return apiErr.HTTPStatusCode == http.StatusTooManyRequests || apiErr.HTTPStatusCode >= 500
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		return reqErr.HTTPStatusCode == http.StatusTooManyRequests || reqErr.HTTPStatusCode >= 500
	}
	var urlErr *url.Error
	return errors.As(err, &urlErr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
