package agents

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/git-evolve/git-evolve/evolve"
)

// Engineer runs evaluation scripts (DESIGN.md section 6). The evaluated code is
// untrusted: it runs in its own process group with secrets removed from its
// environment, under a wall-clock timeout, with its output captured up to a cap,
// and every process it starts is killed before Evaluate returns.
//
// On Linux the first Evaluate makes the calling process a child subreaper
// (prctl PR_SET_CHILD_SUBREAPER) for the rest of its life, so that processes
// the evaluation daemonises are re-parented to it and can be found and reaped.
//
// The zero value is ready to use. An Engineer may evaluate concurrently.
type Engineer struct {
	// Env is the base environment of evaluations; nil means os.Environ().
	// Secrets are removed from it either way (see Evaluate).
	Env []string
	// TempDir is where the per-evaluation folder holding $EVOLVE_RESULTS (and,
	// without ArtifactsDir, $EVOLVE_ARTIFACTS) is created; "" means os.TempDir().
	// The folder is removed when Evaluate returns.
	TempDir string
	// ArtifactsDir, when set, keeps artifacts: $EVOLVE_ARTIFACTS is
	// ArtifactsDir/<candidate id>, emptied before the evaluation starts.
	ArtifactsDir string
	// Grace is how long processes left behind by a script that has exited may
	// keep its stdout or stderr open before they are killed; 0 means 250ms.
	Grace time.Duration
}

var _ evolve.Engineer = (*Engineer)(nil)

const (
	defaultEvalTimeout = 10 * time.Minute
	defaultMaxOutput   = 1 << 20
	defaultGrace       = 250 * time.Millisecond
	tailLimit          = 4 << 10 // bytes of stdout/stderr kept in a failed result
	feedbackLimit      = 8 << 10 // bytes of feedback kept from a result
	runIDEnv           = "EVOLVE_RUN_ID"
	resultsFile        = "results.json"
)

// Evaluate runs req.Script and returns its outcome; it never panics on bad
// input and always returns a result with a valid status.
//
// The script runs with $1 = req.Program and the working directory req.WorkDir.
// An executable script is executed directly (its #! line picks the
// interpreter); a script without the executable bit runs with sh when its name
// ends in .sh and with python3 when it ends in .py, and is refused otherwise.
// The environment is Env (or the process's) minus OPENAI_API_KEY, GITHUB_TOKEN,
// GH_TOKEN, the GitHub Actions runtime tokens, the names in req.KeyEnv and
// req.Config.DenyEnv (exact names or path.Match patterns) and any name that
// looks like a secret (*_TOKEN, *_API_KEY, *SECRET*, *PASSWORD*, ...), plus
// EVOLVE_CANDIDATE, EVOLVE_EXPERIMENT, EVOLVE_WORKSPACE, EVOLVE_RESULTS (a
// fresh path for results.json), EVOLVE_ARTIFACTS (a fresh folder), PWD and
// EVOLVE_RUN_ID (a random tag used to find the evaluation's processes).
//
// The result is read, in this order, from $EVOLVE_RESULTS, from a results.json
// in req.WorkDir that the run created or changed, or from the last line of
// stdout that is a JSON object. Its score is "score", else "eval_score", else
// "combined_score"; "success": false means failed; "metrics" (or, without it,
// the other top-level fields, as ASI-Evolve writes them) and "feedback" (or
// "error", or ASI-Evolve's temp.error) are kept.
//
// Statuses: ok; timeout when req.Timeout (else req.Config.Timeout, else 10
// minutes) passes; failed for a missing or unrunnable script, a non-zero exit,
// death by a signal, a cancelled ctx, no result at all, or success: false;
// invalid for a result that does not parse or whose score is missing, not a
// number, NaN or infinite. A non-zero exit is failed even when a result was
// printed: its feedback and metrics are kept but its score is not. Failed,
// timeout and invalid results keep the last 4 KiB of stderr and stdout.
//
// Output is captured up to req.Config.MaxOutput bytes per stream (default
// 1 MiB): the last bytes are kept, the rest is read and discarded. With
// req.Config.MemoryLimit set, the script starts under `ulimit -v` (RLIMIT_AS)
// through sh, so the limit applies before its first instruction.
//
// When the script exits, the processes it left behind get Grace to close its
// stdout and stderr; then every process of the evaluation (its process group,
// every process carrying its EVOLVE_RUN_ID, their descendants, and on Linux
// orphans adopted by this process that left its session and carry no
// EVOLVE_RUN_ID, when no other evaluation is running) is killed with SIGKILL
// and reaped.
//
// RLIMIT_AS bounds virtual memory, which CUDA, the JVM and Go reserve
// generously: give such programs a limit well above what they really use.
func (e *Engineer) Evaluate(ctx context.Context, req evolve.EvalRequest) evolve.EvalResult {
	if err := ctx.Err(); err != nil {
		return failedResult(evolve.StatusFailed, "cancelled before the evaluation started: "+err.Error())
	}
	argv, problem := commandLine(req)
	if problem != "" {
		return failedResult(evolve.StatusFailed, problem)
	}
	if st, err := os.Stat(req.WorkDir); err != nil {
		return failedResult(evolve.StatusFailed, fmt.Sprintf(
			"working directory %s is missing from the workspace (%v): does the candidate hold the experiment folder?", req.WorkDir, err))
	} else if !st.IsDir() {
		return failedResult(evolve.StatusFailed, fmt.Sprintf("working directory %s is not a directory", req.WorkDir))
	}
	tmp, err := os.MkdirTemp(e.TempDir, "evolve-eval-")
	if err != nil {
		return failedResult(evolve.StatusFailed, fmt.Sprintf("cannot create a folder for results.json: %v", err))
	}
	defer os.RemoveAll(tmp)
	artifacts, err := e.artifactsDir(tmp, req.Candidate)
	if err != nil {
		return failedResult(evolve.StatusFailed, err.Error())
	}

	tag := newRunID()
	resultsPath := filepath.Join(tmp, resultsFile)
	base := e.Env
	if base == nil {
		base = os.Environ()
	}
	env := evalEnv(base, req, map[string]string{
		"EVOLVE_CANDIDATE":  req.Candidate,
		"EVOLVE_EXPERIMENT": req.Exp,
		"EVOLVE_WORKSPACE":  req.Workspace,
		"EVOLVE_RESULTS":    resultsPath,
		"EVOLVE_ARTIFACTS":  artifacts,
		"PWD":               req.WorkDir,
		runIDEnv:            tag,
	})
	stale := statFile(filepath.Join(req.WorkDir, resultsFile))

	spec := processSpec{
		argv:    argv,
		dir:     req.WorkDir,
		env:     env,
		tag:     tag,
		timeout: evalTimeout(req),
		maxOut:  maxOutput(req.Config),
		grace:   e.Grace,
		memory:  int64(req.Config.MemoryLimit),
	}
	if spec.grace <= 0 {
		spec.grace = defaultGrace
	}
	out := runProcess(ctx, spec)
	if errors.Is(out.startErr, syscall.ENOEXEC) {
		if interp := interpreterFor(req.Script); interp != "" {
			spec.argv = append([]string{interp}, argv...)
			out = runProcess(ctx, spec)
		}
	}
	return verdict(req, out, resultsPath, stale, spec.maxOut)
}

// commandLine builds the argv of the evaluation or explains why it cannot run.
func commandLine(req evolve.EvalRequest) ([]string, string) {
	if req.Script == "" {
		return nil, "no evaluation script: set eval.script in the experiment's config.yaml or pass --eval-script"
	}
	if !filepath.IsAbs(req.Script) {
		return nil, fmt.Sprintf("evaluation script %q is not an absolute path (resolve it against the folder it was given in)", req.Script)
	}
	if req.Program != "" && !filepath.IsAbs(req.Program) {
		return nil, fmt.Sprintf("program path %q ($1) is not an absolute path", req.Program)
	}
	st, err := os.Stat(req.Script)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Sprintf("evaluation script %s does not exist: create it or point eval.script / --eval-script at it", req.Script)
	case err != nil:
		return nil, fmt.Sprintf("cannot use evaluation script %s: %v", req.Script, err)
	case st.IsDir():
		return nil, fmt.Sprintf("evaluation script %s is a directory, not a script", req.Script)
	}
	argv := []string{req.Script}
	if st.Mode().Perm()&0o111 == 0 {
		interp := interpreterFor(req.Script)
		if interp == "" {
			return nil, fmt.Sprintf("evaluation script %s is not executable: run chmod +x on it, or name it .sh or .py", req.Script)
		}
		argv = []string{interp, req.Script}
	}
	if req.Program != "" {
		argv = append(argv, req.Program)
	}
	return argv, ""
}

// interpreterFor returns the interpreter that runs a script without an
// executable bit or #! line, chosen by its extension.
func interpreterFor(script string) string {
	switch strings.ToLower(filepath.Ext(script)) {
	case ".sh":
		return "sh"
	case ".py":
		return "python3"
	}
	return ""
}

func evalTimeout(req evolve.EvalRequest) time.Duration {
	switch {
	case req.Timeout > 0:
		return req.Timeout
	case req.Config.Timeout > 0:
		return req.Config.Timeout.D()
	}
	return defaultEvalTimeout
}

func maxOutput(c evolve.EvalConfig) int {
	if c.MaxOutput > 0 && c.MaxOutput < math.MaxInt32 {
		return int(c.MaxOutput)
	}
	return defaultMaxOutput
}

func (e *Engineer) artifactsDir(tmp, candidate string) (string, error) {
	if e.ArtifactsDir == "" {
		dir := filepath.Join(tmp, "artifacts")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", fmt.Errorf("cannot create the artifacts folder %s: %w", dir, err)
		}
		return dir, nil
	}
	name := candidate
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		name = filepath.Base(tmp)
	}
	dir := filepath.Join(e.ArtifactsDir, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("cannot empty the artifacts folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cannot create the artifacts folder %s: %w", dir, err)
	}
	return dir, nil
}

func newRunID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// Environment.

// secretNames are removed from every evaluation's environment.
var secretNames = map[string]bool{
	"OPENAI_API_KEY":                 true,
	"GITHUB_TOKEN":                   true,
	"GH_TOKEN":                       true,
	"GH_ENTERPRISE_TOKEN":            true,
	"GITHUB_ENTERPRISE_TOKEN":        true,
	"ACTIONS_RUNTIME_TOKEN":          true,
	"ACTIONS_ID_TOKEN_REQUEST_TOKEN": true,
	"ACTIONS_ID_TOKEN_REQUEST_URL":   true,
}

// looksSecret reports whether a variable name looks like it holds a credential.
func looksSecret(name string) bool {
	n := strings.ToUpper(name)
	if secretNames[n] || n == "TOKEN" || n == "API_KEY" || n == "APIKEY" {
		return true
	}
	for _, s := range []string{"SECRET", "PASSWORD", "PASSWD"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	for _, s := range []string{"_TOKEN", "_API_KEY", "_APIKEY", "_ACCESS_KEY", "_ACCESS_KEY_ID", "_PRIVATE_KEY", "_CREDENTIALS", "_AUTH_TOKEN"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// evalEnv returns base without secrets and without the names of set, followed
// by set (in a stable order).
func evalEnv(base []string, req evolve.EvalRequest, set map[string]string) []string {
	deny := map[string]bool{}
	var patterns []string
	for _, n := range append(append([]string(nil), req.KeyEnv...), req.Config.DenyEnv...) {
		if strings.ContainsAny(n, "*?[") {
			patterns = append(patterns, n)
		} else if n != "" {
			deny[n] = true
		}
	}
	denied := func(name string) bool {
		if deny[name] || looksSecret(name) {
			return true
		}
		if _, ok := set[name]; ok {
			return true
		}
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}
	env := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if name == "" || denied(name) {
			continue
		}
		env = append(env, kv)
	}
	for _, name := range []string{"EVOLVE_CANDIDATE", "EVOLVE_EXPERIMENT", "EVOLVE_WORKSPACE",
		"EVOLVE_RESULTS", "EVOLVE_ARTIFACTS", "PWD", runIDEnv} {
		if v, ok := set[name]; ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// Running the process.

type processSpec struct {
	argv    []string
	dir     string
	env     []string
	tag     string
	timeout time.Duration
	maxOut  int
	grace   time.Duration
	memory  int64 // RLIMIT_AS in bytes; 0 = none
}

type processOutcome struct {
	startErr  error
	state     *os.ProcessState
	timedOut  bool
	cancelled error // ctx.Err() when the context ended the run
	duration  time.Duration
	leftovers int // processes killed by the sweeps (outside Linux: process groups)
	stdout    *tailBuffer
	stderr    *tailBuffer
}

// inflight tracks the main processes of running evaluations, so that reaping
// re-parented zombies never steals the exit status of one of them, and so that
// orphans nobody can attribute are only killed when no evaluation is running.
var inflight = struct {
	sync.Mutex
	mains map[int]bool
}{mains: map[int]bool{}}

func runProcess(ctx context.Context, s processSpec) processOutcome {
	o := processOutcome{stdout: newTailBuffer(s.maxOut), stderr: newTailBuffer(s.maxOut)}
	outR, outW, err := os.Pipe()
	if err != nil {
		o.startErr = err
		return o
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		o.startErr = err
		return o
	}
	argv := s.argv
	if s.memory > 0 {
		kib := strconv.FormatInt((s.memory+1023)/1024, 10)
		argv = append([]string{"sh", "-c", `ulimit -v "$1" || exit 125; shift; exec "$@"`, "sh", kib}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = s.env
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.SysProcAttr = newProcAttr()

	prepareReaper()
	inflight.Lock()
	err = cmd.Start()
	if err == nil {
		inflight.mains[cmd.Process.Pid] = true
	}
	inflight.Unlock()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		o.startErr = err
		return o
	}
	start := time.Now()
	group := newProcGroup(cmd.Process.Pid, s.tag)

	var readers sync.WaitGroup
	readers.Add(2)
	go drain(outR, o.stdout, &readers)
	go drain(errR, o.stderr, &readers)
	waited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the status is read from cmd.ProcessState
		close(waited)
	}()

	timer := time.NewTimer(s.timeout)
	select {
	case <-waited:
	case <-timer.C:
		o.timedOut = true
	case <-ctx.Done():
		o.cancelled = ctx.Err()
	}
	timer.Stop()
	o.duration = time.Since(start)
	killed := o.timedOut || o.cancelled != nil
	if killed {
		_ = cmd.Process.Kill()
		o.leftovers += group.killAll()
		<-waited
	}
	o.state = cmd.ProcessState
	inflight.Lock()
	delete(inflight.mains, cmd.Process.Pid)
	inflight.Unlock()

	if !killed {
		waitGroupFor(&readers, s.grace)
	}
	o.leftovers += group.killAll()
	// Every process holding the pipes is dead now, unless one escaped; do not
	// wait for it.
	if !waitGroupFor(&readers, s.grace) {
		outR.Close()
		errR.Close()
		readers.Wait()
	}
	outR.Close()
	errR.Close()
	group.reap()
	return o
}

func drain(r io.Reader, t *tailBuffer, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		t.Write(buf[:n])
		if err != nil {
			return
		}
	}
}

// waitGroupFor waits for wg at most d and reports whether it finished.
func waitGroupFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// tailBuffer keeps the last limit bytes written to it and counts the rest.
type tailBuffer struct {
	limit int
	buf   []byte // grows up to limit, then is used as a ring
	pos   int    // next write position once the ring is full
	total int64
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: limit} }

func (t *tailBuffer) Write(p []byte) {
	t.total += int64(len(p))
	if len(p) >= t.limit {
		t.buf = append(t.buf[:0], p[len(p)-t.limit:]...)
		t.pos = 0
		return
	}
	if room := t.limit - len(t.buf); room > 0 {
		n := min(room, len(p))
		t.buf = append(t.buf, p[:n]...)
		p = p[n:]
	}
	for len(p) > 0 {
		n := copy(t.buf[t.pos:], p)
		p = p[n:]
		t.pos = (t.pos + n) % t.limit
	}
}

// Bytes returns the kept bytes in order.
func (t *tailBuffer) Bytes() []byte {
	if len(t.buf) < t.limit || t.pos == 0 {
		return t.buf
	}
	out := make([]byte, 0, len(t.buf))
	return append(append(out, t.buf[t.pos:]...), t.buf[:t.pos]...)
}

// Truncated reports whether bytes were discarded.
func (t *tailBuffer) Truncated() bool { return t.total > int64(len(t.buf)) }

// tail returns at most n bytes from the end of b as valid UTF-8.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
		for i := 0; i < utf8.UTFMax && i < len(b) && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// Reading the result.

type fileStamp struct {
	info os.FileInfo
}

func statFile(p string) fileStamp {
	st, err := os.Stat(p)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{info: st}
}

// changedSince reports whether the file at p exists and differs from stamp.
func changedSince(p string, stamp fileStamp) bool {
	st, err := os.Stat(p)
	if err != nil || st.IsDir() {
		return false
	}
	if stamp.info == nil {
		return true
	}
	return !os.SameFile(st, stamp.info) || !st.ModTime().Equal(stamp.info.ModTime()) || st.Size() != stamp.info.Size()
}

func verdict(req evolve.EvalRequest, o processOutcome, resultsPath string, stale fileStamp, maxOut int) evolve.EvalResult {
	r := evolve.EvalResult{Duration: o.duration}
	keepTails := func() {
		r.StderrTail = tail(o.stderr.Bytes(), tailLimit)
		r.StdoutTail = tail(o.stdout.Bytes(), tailLimit)
	}
	fail := func(status evolve.Status, reason string) evolve.EvalResult {
		r.Status, r.Reason = status, reason
		r.Score = nil
		keepTails()
		return r
	}
	if o.startErr != nil {
		return fail(evolve.StatusFailed, fmt.Sprintf("cannot start evaluation script %s: %v", req.Script, o.startErr))
	}
	if o.state != nil {
		if sig := exitSignal(o.state); sig != "" {
			r.Signal = sig
		} else {
			code := o.state.ExitCode()
			r.ExitCode = &code
		}
	}
	if o.cancelled != nil {
		return fail(evolve.StatusFailed, fmt.Sprintf("cancelled (%v); killed the evaluation's %d processes", o.cancelled, o.leftovers))
	}
	if o.timedOut {
		return fail(evolve.StatusTimeout, fmt.Sprintf("timed out after %s; killed the evaluation's %d processes", evalTimeout(req), o.leftovers))
	}

	res, source, problem := findResult(req.WorkDir, resultsPath, stale, o.stdout, maxOut)
	if res != nil {
		r.Metrics = res.metrics
		r.Feedback = res.feedback
	}
	switch {
	case r.Signal != "":
		return fail(evolve.StatusFailed, "the evaluation script was killed by signal "+r.Signal)
	case r.ExitCode != nil && *r.ExitCode != 0:
		if res != nil {
			return fail(evolve.StatusFailed, fmt.Sprintf(
				"the evaluation script exited with status %d after writing a result (%s); its score is not recorded", *r.ExitCode, source))
		}
		return fail(evolve.StatusFailed, fmt.Sprintf("the evaluation script exited with status %d without a result", *r.ExitCode))
	case problem != "":
		return fail(evolve.StatusInvalid, problem)
	case res == nil:
		reason := "no result: the evaluation script exited 0 but printed no JSON object line on stdout and wrote no results.json"
		if source != "" {
			reason += "; the last line of stdout that looks like a JSON object does not parse: " + source
		}
		if o.stdout.Truncated() {
			reason += fmt.Sprintf(" (stdout was %d bytes; only the last %d were kept)", o.stdout.total, maxOut)
		}
		return fail(evolve.StatusFailed, reason)
	case res.success != nil && !*res.success:
		return fail(evolve.StatusFailed, fmt.Sprintf("the evaluation reported success: false (%s)", source))
	}
	score, why := scoreValue(res)
	if why != "" {
		return fail(evolve.StatusInvalid, why+" ("+source+")")
	}
	r.Status, r.Score = evolve.StatusOK, &score
	return r
}

// findResult looks for the result in $EVOLVE_RESULTS, then in a results.json
// of the working directory written by this run, then in the last JSON object
// line of stdout. source names where it was found; problem is set when a
// results.json was present but unreadable. Without a result, source tells why
// the last line of stdout that looked like a JSON object did not count, if any.
func findResult(workDir, resultsPath string, stale fileStamp, stdout *tailBuffer, maxOut int) (res *evalOutput, source, problem string) {
	files := []string{resultsPath}
	if p := filepath.Join(workDir, resultsFile); changedSince(p, stale) {
		files = append(files, p)
	}
	for _, p := range files {
		b, err := readCapped(p, maxOut)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		source = "results.json at " + p
		if err != nil {
			return nil, source, fmt.Sprintf("cannot read %s: %v", source, err)
		}
		out, err := parseResult(b)
		if err != nil {
			return nil, source, fmt.Sprintf("%s is not a valid result: %v", source, err)
		}
		return &out, source, ""
	}
	out, found, broken := lastJSONLine(stdout.Bytes())
	if found {
		return &out, "last JSON line of stdout", ""
	}
	return nil, broken, ""
}

func readCapped(p string, limit int) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("it is larger than %d bytes (eval.max_output)", limit)
	}
	return b, nil
}

// lastJSONLine finds the last line of out that is a JSON object. A line that
// looks like one ({...}) but does not parse is skipped; broken describes the
// last such line when no line parses.
func lastJSONLine(out []byte) (res evalOutput, found bool, broken string) {
	for len(out) > 0 {
		i := bytes.LastIndexByte(out, '\n')
		line := bytes.TrimSpace(out[i+1:])
		if i < 0 {
			out = nil
		} else {
			out = out[:i]
		}
		if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
			continue
		}
		r, err := parseResult(line)
		if err == nil {
			return r, true, ""
		}
		if broken == "" {
			broken = err.Error()
		}
	}
	return evalOutput{}, false, broken
}

// evalOutput is a parsed result object.
type evalOutput struct {
	scoreKey string
	score    json.RawMessage
	success  *bool
	metrics  map[string]any
	feedback string
}

// scoreKeys are the names accepted for the score, by priority: ours,
// ASI-Evolve's, OpenEvolve's.
var scoreKeys = []string{"score", "eval_score", "combined_score"}

// resultKeys are top-level fields that are not metrics.
var resultKeys = map[string]bool{"score": true, "eval_score": true, "combined_score": true, "success": true,
	"metrics": true, "feedback": true, "error": true, "temp": true, "artifacts": true}

// nonFinite marks the bare NaN / Infinity tokens (as Python's json module
// writes them) that parseResult turned into strings; nonFiniteJSON is the
// same marker inside a JSON string literal.
const (
	nonFinite     = "\x00nonfinite:"
	nonFiniteJSON = `\u0000nonfinite:`
)

// parseResult decodes a result object, accepting bare NaN and Infinity.
func parseResult(b []byte) (evalOutput, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(quoteNonFinite(b)))
	if err := dec.Decode(&fields); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return evalOutput{}, errors.New("it is truncated (unexpected end of JSON input)")
		}
		return evalOutput{}, err
	}
	if fields == nil {
		return evalOutput{}, errors.New("it is null, not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return evalOutput{}, errors.New("unexpected data after the JSON object")
	}
	var out evalOutput
	for _, k := range scoreKeys {
		if raw, ok := fields[k]; ok {
			out.scoreKey, out.score = k, raw
			break
		}
	}
	if raw, ok := fields["success"]; ok {
		var s bool
		if json.Unmarshal(raw, &s) == nil {
			out.success = &s
		}
	}
	out.feedback = feedbackOf(fields)
	var metrics map[string]any
	if raw, ok := fields["metrics"]; ok && json.Unmarshal(raw, &metrics) == nil && metrics != nil {
		out.metrics = metrics
	} else {
		for k, raw := range fields {
			// The score aliases that were not used as the score stay as metrics.
			reserved := resultKeys[k] && k != "combined_score" && k != "eval_score"
			if reserved || k == out.scoreKey {
				continue
			}
			var v any
			if json.Unmarshal(raw, &v) == nil {
				if out.metrics == nil {
					out.metrics = map[string]any{}
				}
				out.metrics[k] = v
			}
		}
	}
	for k, v := range out.metrics {
		out.metrics[k] = plainNonFinite(v)
	}
	return out, nil
}

func feedbackOf(fields map[string]json.RawMessage) string {
	text := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		if string(raw) == "null" {
			return ""
		}
		return string(raw)
	}
	var fb string
	if raw, ok := fields["feedback"]; ok {
		fb = text(raw)
	} else if raw, ok := fields["error"]; ok {
		fb = text(raw)
	} else if raw, ok := fields["temp"]; ok {
		var temp map[string]json.RawMessage
		if json.Unmarshal(raw, &temp) == nil && temp["error"] != nil {
			fb = text(temp["error"])
		}
	}
	if len(fb) > feedbackLimit {
		fb = strings.ToValidUTF8(fb[:feedbackLimit], "") + "… (truncated)"
	}
	return strings.ReplaceAll(fb, nonFinite, "")
}

// plainNonFinite replaces the marked non-finite numbers inside v by their
// names ("NaN", "Infinity", "-Infinity"), which JSON can hold as strings.
func plainNonFinite(v any) any {
	switch x := v.(type) {
	case string:
		return strings.TrimPrefix(x, nonFinite)
	case map[string]any:
		for k, e := range x {
			x[k] = plainNonFinite(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainNonFinite(e)
		}
	}
	return v
}

// scoreValue returns the finite score of res or why there is none.
func scoreValue(res *evalOutput) (float64, string) {
	if res.scoreKey == "" {
		return 0, `no score: the result has none of "score", "eval_score" or "combined_score"`
	}
	raw := bytes.TrimSpace(res.score)
	var s string
	switch {
	case string(raw) == "null":
		return 0, fmt.Sprintf("%s is null, not a number", res.scoreKey)
	case json.Unmarshal(raw, &s) == nil:
		if name, ok := strings.CutPrefix(s, nonFinite); ok {
			return 0, fmt.Sprintf("%s is %s, not a finite number", res.scoreKey, name)
		}
		return 0, fmt.Sprintf("%s is the string %q, not a number", res.scoreKey, s)
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, fmt.Sprintf("%s %s is not a finite float64", res.scoreKey, raw)
		}
		return f, ""
	}
	return 0, fmt.Sprintf("%s is %s, not a number", res.scoreKey, raw)
}

// quoteNonFinite rewrites the bare tokens NaN, Infinity, Inf (any case, with
// an optional sign) outside JSON strings into marked strings, so that a result
// written by Python's json module parses and its score is reported as
// non-finite rather than as garbage.
func quoteNonFinite(b []byte) []byte {
	var out []byte // nil until the first rewrite
	inString, escaped := false, false
	last := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		if c != '-' && c != '+' && !isLetter(c) {
			continue
		}
		j := i
		if c == '-' || c == '+' {
			j++
		}
		k := j
		for k < len(b) && isLetter(b[k]) {
			k++
		}
		word := strings.ToLower(string(b[j:k]))
		var name string
		switch word {
		case "nan":
			name = "NaN"
		case "inf", "infinity":
			name = "Infinity"
			if c == '-' {
				name = "-Infinity"
			}
		default:
			i = max(i, k-1)
			continue
		}
		out = append(out, b[last:i]...)
		out = append(out, '"')
		out = append(out, nonFiniteJSON...)
		out = append(out, name...)
		out = append(out, '"')
		last = k
		i = k - 1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func failedResult(status evolve.Status, reason string) evolve.EvalResult {
	return evolve.EvalResult{Status: status, Reason: reason}
}
