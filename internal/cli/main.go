// Package cli is the `git evolve` command tree: flags, output (tables on a
// terminal, tab-separated when piped, --json for scripts), exit codes and hints.
// It is the only package that talks to the terminal; the work is done by the
// packages below it (evolve, gitstore, agents, cognition, action).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// Exit codes.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitBudget      = 3
	ExitInterrupted = 130
)

// IO is everything a command reads from or writes to the outside world.
type IO struct {
	In       io.Reader
	Out      io.Writer
	Err      io.Writer
	Getenv   func(string) string
	Terminal bool             // stdout is a terminal: tables with borders, progress lines
	Now      func() time.Time // wall clock
	// Signals, when set, cancels the running command's context (SIGINT/SIGTERM).
	Signals bool
}

// StdIO is the process's own standard streams and environment.
func StdIO() IO {
	return IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		Getenv:   os.Getenv,
		Terminal: isatty.IsTerminal(os.Stdout.Fd()),
		Now:      time.Now,
		Signals:  true,
	}
}

// exitError carries an exit code and, optionally, a hint printed after the message.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.hint == "" {
			ee.hint = hint
		}
		return err
	}
	return &exitError{code: ExitError, err: err, hint: hint}
}

// Main runs git-evolve with args (args[0] is the program name) and returns the
// exit code. It never calls os.Exit and never panics on bad input.
func Main(args []string, sio IO) (code int) {
	if sio.Getenv == nil {
		sio.Getenv = func(string) string { return "" }
	}
	if sio.Now == nil {
		sio.Now = time.Now
	}
	if sio.In == nil {
		sio.In = strings.NewReader("")
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(sio.Err, "git-evolve: internal error: %v\n(this is a bug; please report it with the command you ran)\n", r)
			code = ExitError
		}
	}()
	ctx := context.Background()
	if sio.Signals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	if path := sio.Getenv("GIT_EVOLVE_CPUPROFILE"); path != "" {
		// For finding where the time goes: GIT_EVOLVE_CPUPROFILE=cpu.out git evolve ...
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	app := newApp(&sio)
	err := app.RunContext(ctx, args)
	closeStores(app)
	if err == nil {
		return ExitOK
	}
	code = ExitError
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if code == ExitError && isUsage(err) {
		code = ExitUsage
	}
	msg := err.Error()
	fmt.Fprintf(sio.Err, "git-evolve: %s\n", msg)
	if ee != nil && ee.hint != "" {
		fmt.Fprintf(sio.Err, "hint: %s\n", ee.hint)
	}
	if code == ExitUsage && !strings.Contains(msg, "--help") {
		fmt.Fprintf(sio.Err, "run 'git evolve --help' for usage\n")
	}
	return code
}

// isUsage recognises the flag-parsing errors of urfave/cli.
func isUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"No help topic for", "flag provided but not defined", "flag needs an argument", "invalid value", "Required flag", "Required flags"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func newApp(sio *IO) *cli.App {
	app := &cli.App{
		Name:      "git-evolve",
		HelpName:  "git evolve",
		Usage:     "an autonomous research loop whose memory is git",
		Version:   Version,
		Reader:    sio.In,
		Writer:    sio.Out,
		ErrWriter: sio.Err,
		Description: `git evolve runs learn → design → experiment → analyze on any problem where a
better program gives a better score. Every candidate program is a commit, its
motivation, metrics and analysis are notes in refs/notes/evolve, and parents are
sampled by walking the commit DAG.

Start here:
   git evolve demo                     offline circle-packing demo in a new repository
   git evolve init my_exp              scaffold experiments/my_exp/ in this repository
   git evolve step -e my_exp --steps 10
   git evolve log -e my_exp            leaderboard
   git evolve show <id>                motivation, metrics, analysis, diff

Without an LLM endpoint (OPENAI_API_KEY / api.base_url) the Researcher and
Analyzer run offline: numeric-literal mutation and rule-based analysis.`,
		EnableBashCompletion: true,
		Suggest:              true,
		HideHelpCommand:      false,
		ExitErrHandler:       func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "C", Usage: "run as if git-evolve was started in `DIR`"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &exitError{code: ExitUsage, err: err}
		},
		Commands: commands(sio),
	}
	return app
}

// onUsage is shared by every command so that flag errors exit with ExitUsage.
func onUsage(_ *cli.Context, err error, _ bool) error {
	return &exitError{code: ExitUsage, err: err}
}

func commands(sio *IO) []*cli.Command {
	cmds := []*cli.Command{
		initCommand(sio),
		stepCommand(sio),
		evalCommand(sio),
		commitCommand(sio),
		logCommand(sio),
		showCommand(sio),
		treeCommand(sio),
		sampleCommand(sio),
		demoCommand(sio),
		cognitionCommand(sio),
		syncCommand(sio),
		configCommand(sio),
		manCommand(sio),
		reportCommand(sio),
		commentCommand(sio),
		prCommand(sio),
		promoteCommand(sio),
		actionCommand(sio),
	}
	for _, c := range cmds {
		setUsage(c)
	}
	return cmds
}

func setUsage(c *cli.Command) {
	if c.OnUsageError == nil {
		c.OnUsageError = onUsage
	}
	if c.Action != nil {
		// git users write flags after arguments (git evolve show 1a2b --no-diff).
		c.Action = withTrailingFlags(c.Action)
	}
	for _, s := range c.Subcommands {
		setUsage(s)
	}
}
