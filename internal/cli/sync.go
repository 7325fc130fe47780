package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/urfave/cli/v2"

	"github.com/git-evolve/git-evolve/gitstore"
)

// defaultRemote is the remote of `git evolve sync` without an argument and
// without an experiment whose config names one.
const defaultRemote = "origin"

func syncCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:      "sync",
		Usage:     "share candidates and notes with a remote: fetch, merge the notes, push",
		ArgsUsage: "[REMOTE]",
		Description: `Exchanges the experiments' candidates and records with REMOTE (a remote
name, a URL or the path of a repository; default: sync.remote of the
experiment given with -e, else origin):

  1. fetch the remote's candidate refs (refs/evolve/<exp>/<id>) and its
     refs/notes/evolve into refs/notes/remotes/<remote>/evolve;
  2. merge those notes into refs/notes/evolve by the union of their lines
     (git notes merge -s cat_sort_uniq): nothing either side wrote is lost;
  3. push the candidates the remote lacks (never forced) and the notes, on
     the condition that the remote's notes did not move since step 1. When
     another runner pushed in between, start again after a short, growing,
     random wait, up to 8 times.

Syncing twice in a row changes nothing. -e limits the candidates exchanged to
one experiment; the notes are one ref for all experiments and always merge
whole. --check only compares the two sides and writes nothing; it exits with
1 when they differ.

https remotes use the token in $GITHUB_TOKEN or $GIT_TOKEN when set, else
git's credential helper when the server asks for a password. ssh remotes use
the ssh agent.

Examples:
   git evolve sync                         # with origin
   git evolve sync upstream -e my_exp
   git evolve sync /mnt/shared/exp.git --check
   git evolve step -e my_exp --steps 100 --sync`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.BoolFlag{Name: "check", Usage: "compare with the remote and report candidates missing on either side; write nothing"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 1 {
				return usageErr("sync takes at most one REMOTE (got %d arguments: %s)", c.Args().Len(), strings.Join(c.Args().Slice(), " "))
			}
			exp := c.String("experiment")
			if exp != "" {
				if err := checkExpName(exp); err != nil {
					return err
				}
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			defer s.Close()
			dir, err := workdir(c)
			if err != nil {
				return err
			}
			name := c.Args().First()
			if name == "" {
				if name, err = configuredRemote(c, sio, s, exp); err != nil {
					return err
				}
			}
			remote, err := resolveRemote(s, dir, name)
			if err != nil {
				return err
			}
			opt := gitstore.SyncOptions{Remote: remote, Exp: exp, Auth: tokenAuth(remote.URL, sio.Getenv)}
			if c.Bool("check") {
				return runSyncCheck(c.Context, sio, s, opt, c.Bool("json"))
			}
			start := time.Now()
			res, err := syncWithCredentials(c.Context, s, opt)
			for _, sk := range res.Skipped {
				fmt.Fprintf(sio.Err, "warning: left alone: %s\n", sk)
			}
			if err != nil {
				return withHint(err, "the local repository is unchanged where the sync failed; run git evolve sync again")
			}
			if c.Bool("json") {
				return writeJSON(sio.Out, res)
			}
			fmt.Fprintln(sio.Out, syncSummary(res, time.Since(start)))
			return nil
		},
	}
}

// syncRemote is `step --sync`: a sync of experiment e with remote, quiet
// (the step loop reports failures and goes on).
func syncRemote(ctx context.Context, e *experiment, remote string) error {
	if remote == "" {
		remote = defaultRemote
	}
	r, err := resolveRemote(e.Store, e.Root, remote)
	if err != nil {
		return err
	}
	opt := gitstore.SyncOptions{Remote: r, Exp: e.Name, Auth: tokenAuth(r.URL, os.Getenv)}
	res, err := syncWithCredentials(ctx, e.Store, opt)
	if err == nil && len(res.Skipped) > 0 {
		err = fmt.Errorf("sync with %s left %d candidate refs alone: %s", r.Name, len(res.Skipped), strings.Join(res.Skipped, "; "))
	}
	return err
}

// configuredRemote is sync.remote from the configuration of exp when its
// folder exists, else origin.
func configuredRemote(c *cli.Context, sio *IO, s *gitstore.Store, exp string) (string, error) {
	if exp == "" || s.Root() == "" {
		return defaultRemote, nil
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "experiments", exp)); err != nil {
		return defaultRemote, nil // known here only through its refs, or not at all yet
	}
	e, err := loadExperiment(c.Context, c, sio, exp, expOptions{})
	if err != nil {
		return "", err
	}
	defer e.Store.Close()
	if e.Config.Sync.Remote == "" {
		return defaultRemote, nil
	}
	return e.Config.Sync.Remote, nil
}

// resolveRemote finds a configured remote called name or, failing that,
// takes name as a URL or as a path relative to dir.
func resolveRemote(s *gitstore.Store, dir, name string) (gitstore.Remote, error) {
	r, err := s.ResolveRemote(name)
	if err == nil {
		return r, nil
	}
	if dir != "" && !filepath.IsAbs(name) && !strings.Contains(name, "://") {
		if p := filepath.Join(dir, name); isDirectory(p) {
			return s.ResolveRemote(p)
		}
	}
	return gitstore.Remote{}, withHint(err, "list remotes with git remote -v; a shared bare repository is made with git init --bare PATH")
}

func isDirectory(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isHTTP(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// tokenAuth authenticates https remotes with the token in $GITHUB_TOKEN or
// $GIT_TOKEN (as GitHub expects it: user x-access-token); nil otherwise.
func tokenAuth(remoteURL string, getenv func(string) string) transport.AuthMethod {
	if !isHTTP(remoteURL) {
		return nil
	}
	for _, k := range []string{"GITHUB_TOKEN", "GIT_TOKEN"} {
		if t := getenv(k); t != "" {
			return &githttp.BasicAuth{Username: "x-access-token", Password: t}
		}
	}
	return nil
}

// syncWithCredentials syncs; when an http remote asks for credentials that
// were not given, it asks git's credential helper (without prompting) and
// tries once more, telling the helper whether they worked.
func syncWithCredentials(ctx context.Context, s *gitstore.Store, opt gitstore.SyncOptions) (gitstore.SyncResult, error) {
	res, err := s.Sync(ctx, opt)
	if err == nil || opt.Auth != nil || !isHTTP(opt.Remote.URL) || !errors.Is(err, transport.ErrAuthenticationRequired) {
		return res, err
	}
	dir := s.Root()
	if dir == "" {
		dir = s.GitDir()
	}
	cred, ok := credentialFill(ctx, dir, opt.Remote.URL)
	if !ok {
		return res, err
	}
	opt.Auth = &githttp.BasicAuth{Username: cred["username"], Password: cred["password"]}
	res, err = s.Sync(ctx, opt)
	switch {
	case err == nil:
		credentialTell(ctx, dir, "approve", cred)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		credentialTell(ctx, dir, "reject", cred)
	}
	return res, err
}

// credentialFill runs `git credential fill` for remoteURL without letting
// git prompt on a terminal, and returns the description it answers.
func credentialFill(ctx context.Context, dir, remoteURL string) (map[string]string, bool) {
	u, err := url.Parse(remoteURL)
	if err != nil {
		return nil, false
	}
	req := fmt.Sprintf("protocol=%s\nhost=%s\npath=%s\n", u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/"))
	if u.User != nil && u.User.Username() != "" {
		req += "username=" + u.User.Username() + "\n"
	}
	out, err := runCredential(ctx, dir, "fill", req+"\n")
	if err != nil {
		return nil, false
	}
	cred := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			cred[k] = v
		}
	}
	if cred["password"] == "" {
		return nil, false
	}
	return cred, true
}

// credentialTell reports to the helpers that cred worked (approve) or not
// (reject). Failures are ignored: it only keeps their caches accurate.
func credentialTell(ctx context.Context, dir, verb string, cred map[string]string) {
	var b strings.Builder
	for _, k := range []string{"protocol", "host", "path", "username", "password"} {
		if v, ok := cred[k]; ok {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	_, _ = runCredential(ctx, dir, verb, b.String()+"\n")
}

func runCredential(ctx context.Context, dir, verb, input string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "credential", verb)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never")
	cmd.Stdin = strings.NewReader(input)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}

// syncSummary is the one line `git evolve sync` prints.
func syncSummary(res gitstore.SyncResult, d time.Duration) string {
	var parts []string
	if n := len(res.Fetched); n > 0 {
		parts = append(parts, "fetched "+plural(n, "candidate"))
	}
	if n := len(res.Pushed); n > 0 {
		parts = append(parts, "pushed "+plural(n, "candidate"))
	}
	switch res.Notes {
	case "fast-forward":
		parts = append(parts, "notes updated from the remote")
	case "merged":
		parts = append(parts, "notes merged with the remote's")
	}
	if res.NotesPushed {
		parts = append(parts, "notes pushed")
	}
	line := remoteLabel(res.Remote, res.URL) + ": "
	if len(parts) == 0 {
		line += "already in sync"
	} else {
		line += strings.Join(parts, ", ")
	}
	var extra []string
	if res.Attempts > 1 {
		extra = append(extra, fmt.Sprintf("%d attempts: others pushed meanwhile", res.Attempts))
	}
	if res.BytesReceived > 0 || res.BytesSent > 0 {
		extra = append(extra, fmt.Sprintf("%s received, %s sent", byteSize(res.BytesReceived), byteSize(res.BytesSent)))
	}
	extra = append(extra, d.Round(time.Millisecond).String())
	return line + " (" + strings.Join(extra, ", ") + ")"
}

// remoteLabel names a remote for people: its configured name, or its URL
// when it was given as one.
func remoteLabel(name, url string) string {
	if strings.HasPrefix(name, "url-") && url != "" {
		return url
	}
	return name
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func byteSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
}

// syncCheckJSON is the --check --json shape.
type syncCheckJSON struct {
	gitstore.SyncCheck
	InSync bool `json:"in_sync"`
}

// runSyncCheck prints the candidates found on one side only (a table on a
// terminal, "here|remote<TAB>exp<TAB>id" lines when piped) and a summary;
// it fails with exit code 1 when the sides differ.
func runSyncCheck(ctx context.Context, sio *IO, s *gitstore.Store, opt gitstore.SyncOptions, asJSON bool) error {
	chk, err := s.CheckSync(ctx, opt)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(sio.Out, syncCheckJSON{SyncCheck: chk, InSync: chk.InSync()}); err != nil {
			return err
		}
	} else {
		var rows [][]string
		for _, r := range chk.OnlyLocal {
			rows = append(rows, []string{"here", r.Exp, r.ID})
		}
		for _, r := range chk.OnlyRemote {
			rows = append(rows, []string{"remote", r.Exp, r.ID})
		}
		if len(rows) > 0 {
			if err := table(sio.Out, sio.Terminal, []string{"only in", "experiment", "candidate"}, rows); err != nil {
				return err
			}
		}
		summary := fmt.Sprintf("%d in common, %d only here, %d only on %s; notes: %s",
			chk.Common, len(chk.OnlyLocal), len(chk.OnlyRemote), remoteLabel(chk.Remote, chk.URL), chk.Notes)
		if sio.Terminal || len(rows) == 0 {
			fmt.Fprintln(sio.Out, summary)
		} else {
			fmt.Fprintln(sio.Err, summary) // keep piped stdout to the rows
		}
	}
	if !chk.InSync() {
		label := remoteLabel(chk.Remote, chk.URL)
		return &exitError{code: ExitError, err: fmt.Errorf("not in sync with %s", label),
			hint: "run git evolve sync " + label}
	}
	return nil
}
