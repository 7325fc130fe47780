package agents

import (
	"context"
	"fmt"
	"go/parser"
	"go/scanner"
	"go/token"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
)

// lits renders the literals of src as "text:name" for comparison.
func litStrings(file, src string) []string {
	var out []string
	for _, l := range scanLiterals(file, src) {
		out = append(out, l.text+l.suffix+":"+l.label())
	}
	return out
}

func TestScanLiterals(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            []string
	}{
		{"python strings and comments", "a.py",
			"x = 1  # 2\ns = 'a 3' + \"4\" + '''5\n6''' + \"\"\"7\"\"\"\nf = f\"{x + 8}\"\ny = 9\n",
			[]string{"1:x", "9:y"}},
		{"python number forms", "a.py",
			"a = 1.5\nb = .5\nc = 1.\nd = 1e-3\ne = 2E+10\nf = 1_000\ng = 0x1F\nh = 1j\ni = 0o7\nj = 007\nk = 0\n",
			[]string{"1.5:a", ".5:b", "1.:c", "1e-3:d", "2E+10:e", "1_000:f", "0:k"}},
		{"identifiers with digits", "a.py",
			"x1 = float32(v2) + f64 * 3\n",
			[]string{"3:x1"}},
		{"names", "a.py",
			"def f(x, alpha=0.9, beta: float = 2):\n    w = [0.1, 0.2]\n    cfg = {\"lr\": 3e-4}\n    self.radius += 0.5\n    return x * 4\n",
			[]string{"0.9:alpha", "2:beta", "0.1:w (#1)", "0.2:w (#2)", "3e-4:lr", "0.5:self.radius", "4:"}},
		{"C comments, chars and suffixes", "k.cu",
			"/* 1.0 */ float r = 0.5f; // 2\nlong n = 10L; char c = '3'; int h = 0xFF;\n#define N 64\n",
			[]string{"0.5f:r", "10L:n", "64:N"}},
		{"Go raw strings, runes and declarations", "m.go",
			"const s = `a 1\nb 2`\nvar rate float64 = 0.25\nn := 8\nr := '9'\nc := 2i\n",
			[]string{"0.25:rate", "8:n"}},
		{"Rust ranges and lifetimes", "m.rs",
			"fn f<'a>(x: &'a [u8]) { for i in 0..5 { let y = 1.5f64; let z = 7u8; } }\n",
			[]string{"0:", "5:", "1.5f64:y"}},
		{"Rust tuple fields", "m.rs",
			"let a = t.0 + 1.5;\n",
			[]string{"1.5:a"}},
		{"JavaScript template strings", "m.js",
			"const t = `a ${1}`; let v = 2.5;\n",
			[]string{"2.5:v"}},
		{"shell", "run.sh",
			"N=4 # 5\necho \"$# 6\" 7\n",
			[]string{"4:N", "7:"}},
		{"YAML keys", "c.yaml",
			"lr: 0.001\nname: 'run 2'\nsteps: 100 # 3\n",
			[]string{"0.001:lr", "100:steps"}},
		{"unknown extension reads as Python", "initial_program",
			"x = 2  # 3\n",
			[]string{"2:x"}},
		{"comparison is not assignment", "a.py",
			"if x == 3: y = 4\nz = x >= 5\n",
			[]string{"3:", "4:y", "5:z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := litStrings(tc.file, tc.src)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("literals of %q:\n got %q\nwant %q", tc.src, got, tc.want)
			}
			for _, l := range scanLiterals(tc.file, tc.src) {
				if tc.src[l.start:l.end] != l.text {
					t.Fatalf("offsets of %q point at %q", l.text, tc.src[l.start:l.end])
				}
			}
		})
	}
}

func TestScanLiteralsLines(t *testing.T) {
	src := "a = 1\n'''x\n2\n'''\n/* not C here */ b = 3\n"
	ls := scanLiterals("a.py", src)
	if len(ls) != 2 || ls[0].line != 1 || ls[1].line != 5 || ls[1].name != "b" {
		t.Fatalf("literals = %+v", ls)
	}
	if !scanLiterals("a.py", "a[1]")[0].subscript || scanLiterals("a.py", "a = [1]")[0].subscript {
		t.Fatal("subscript detection")
	}
}

func TestFormatFloat(t *testing.T) {
	tests := []struct {
		orig string
		nv   float64
		want string
	}{
		{"0.1", 0.11234567, "0.1123"},
		{"0.1", 0.1000004, "0.1000004"},
		{"2.0", 3, "3.0"},
		{"1e-3", 0.0012345, "1.234e-3"},
		{"1E5", 123456.7, "1.235E5"},
		{"1.5", 2e-9, "2.0e-9"},
		{"10.0", 1234567.891, "1235000.0"},
	}
	for _, tc := range tests {
		v, _ := strconv.ParseFloat(tc.orig, 64)
		got := formatFloat(tc.nv, literal{text: tc.orig, value: v})
		if got != tc.want {
			t.Errorf("formatFloat(%g) replacing %s = %q, want %q", tc.nv, tc.orig, got, tc.want)
		}
	}
}

func TestMutateLiteralKeepsKind(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, text := range []string{"1", "2", "7", "150", "0.5", "0.0", "3e-4", "1.", "1_000"} {
		l := scanLiterals("a.py", "x = "+text)[0]
		for range 500 {
			got, how := mutateLiteral(l, rng)
			if got == text {
				t.Fatalf("%s mutated to itself (%s)", text, how)
			}
			v, err := strconv.ParseFloat(strings.ReplaceAll(got, "_", ""), 64)
			if err != nil || v <= 0 && l.value > 0 {
				t.Fatalf("%s -> %q (%s): not a positive number", text, got, how)
			}
			isInt := !strings.ContainsAny(got, ".eE")
			if isInt != l.isInt {
				t.Fatalf("%s -> %q changed kind", text, got)
			}
			if !l.isInt && !strings.Contains(got, ".") {
				t.Fatalf("%s -> %q has no decimal point", text, got)
			}
		}
	}
}

const pyProgram = `"""Docstring with 3.14 and 42."""
import math

LIMIT = 0x1F  # hex not touched
NAME = "model_v2 lr=0.5"
# EVOLVE-BLOCK-START
# comment with 0.25 and 7
RADIUS = 0.1
COUNT = 10
SCALE = 1e-3
BIG = 1_000
WEIGHTS = [0.5, 0.25, 2.0]
TEMPLATE = f"{RADIUS * 2} and 3"
RAW = r'\d+ 12'
DOC = '''multi
line 5.5 '''


def step(x, alpha=0.9, beta=.5):
    y = x ** 2 + 3 * x - 1.
    z = x[0] + x[-1]
    return y * alpha + beta * 4
# EVOLVE-BLOCK-END
OUTSIDE = 99
`

func offlineInput(files map[string]string, editable ...string) evolve.ResearchInput {
	return evolve.ResearchInput{Exp: "demo", Editable: editable, Parent: evolve.Node{
		Candidate: evolve.Candidate{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, Files: files}}
}

func offlinePropose(t testing.TB, r OfflineResearcher, in evolve.ResearchInput, seed uint64) evolve.Proposal {
	t.Helper()
	p, err := r.Propose(context.Background(), in, rand.New(rand.NewPCG(seed, 7)))
	if err != nil {
		t.Fatalf("Propose: %v", err)
	}
	return p
}

func TestOfflineProposal(t *testing.T) {
	in := offlineInput(map[string]string{"exp/prog.py": pyProgram, "exp/data.txt": "1 2 3\n"}, "exp/prog.py")
	var r OfflineResearcher
	if r.Name() != "offline" {
		t.Fatalf("Name = %q", r.Name())
	}
	p := offlinePropose(t, r, in, 1)
	if p.Invalid != "" || p.Model != "offline" || p.Tokens.Total() != 0 || p.CostUSD != 0 {
		t.Fatalf("proposal = %+v", p)
	}
	if len(p.Files) != 1 || string(p.Files["exp/prog.py"]) == pyProgram {
		t.Fatalf("files = %q", p.Files)
	}
	if !regexp.MustCompile(`^offline: \S+( \(#\d\))? \S+ -> \S+ \(line \d+\)( and \d more)?$`).MatchString(p.Title) {
		t.Fatalf("title = %q", p.Title)
	}
	if !strings.HasPrefix(p.Motivation, "Offline mode (no LLM): mutation of ") || !strings.Contains(p.Motivation, "- exp/prog.py line ") {
		t.Fatalf("motivation = %q", p.Motivation)
	}
	again := offlinePropose(t, r, in, 1)
	if string(again.Files["exp/prog.py"]) != string(p.Files["exp/prog.py"]) || again.Title != p.Title {
		t.Fatal("the same seed gave two different proposals")
	}
	differ := false
	for seed := uint64(2); seed < 10 && !differ; seed++ {
		differ = string(offlinePropose(t, r, in, seed).Files["exp/prog.py"]) != string(p.Files["exp/prog.py"])
	}
	if !differ {
		t.Fatal("different seeds always gave the same proposal")
	}
}

func TestOfflineTitleNamesTheChange(t *testing.T) {
	in := offlineInput(map[string]string{"p.py": "import os\n\nradius = 0.1\n"}, "p.py")
	p := offlinePropose(t, OfflineResearcher{}, in, 3)
	m := regexp.MustCompile(`^offline: radius 0\.1 -> (\S+) \(line 3\)$`).FindStringSubmatch(p.Title)
	if m == nil {
		t.Fatalf("title = %q", p.Title)
	}
	if string(p.Files["p.py"]) != "import os\n\nradius = "+m[1]+"\n" {
		t.Fatalf("file = %q, title %q", p.Files["p.py"], p.Title)
	}
}

func TestOfflineStaysInRegionAndLiterals(t *testing.T) {
	in := offlineInput(map[string]string{"exp/prog.py": pyProgram}, "exp/prog.py")
	orig := splitFile(pyProgram).lines
	r := OfflineResearcher{CrossoverRate: -1}
	changed := map[int]bool{}
	dir := t.TempDir()
	var paths []string
	for seed := range uint64(300) {
		p := offlinePropose(t, r, in, seed)
		src := string(p.Files["exp/prog.py"])
		if msg := checkOutsideRegions("exp/prog.py", orig, splitFile(src).lines); msg != "" {
			t.Fatalf("seed %d changed lines outside the region: %s", seed, msg)
		}
		a, b := scanLiterals("x.py", pyProgram), scanLiterals("x.py", src)
		if len(a) != len(b) {
			t.Fatalf("seed %d: %d literals became %d", seed, len(a), len(b))
		}
		for i := range a {
			if pyProgram[:a[i].start] != src[:b[i].start] && a[i].text == b[i].text {
				continue
			}
			if a[i].text != b[i].text {
				changed[a[i].line] = true
				if a[i].isInt != b[i].isInt || a[i].isInt && a[i].value == 0 {
					t.Fatalf("seed %d: %s became %s", seed, a[i].text, b[i].text)
				}
			}
		}
		f := filepath.Join(dir, fmt.Sprintf("m%03d.py", seed))
		if err := os.WriteFile(f, p.Files["exp/prog.py"], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, f)
	}
	for _, line := range []int{8, 9, 10, 11, 12, 20} {
		if !changed[line] {
			t.Errorf("line %d was never mutated in 300 proposals", line)
		}
	}
	checkPythonTokens(t, pyProgram, paths)
}

// checkPythonTokens runs python3 to check that each mutant compiles and has the
// same tokens as the original except the text of numbers, whose kind (int or
// float) must not change.
func checkPythonTokens(t *testing.T, orig string, mutants []string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: token check skipped")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "check.py")
	origPath := filepath.Join(dir, "orig.py")
	if err := os.WriteFile(script, []byte(`import io, sys, tokenize
def toks(src):
    out = []
    for t in tokenize.generate_tokens(io.StringIO(src).readline):
        if t.type == tokenize.NUMBER:
            kind = "float" if any(c in t.string for c in ".eE") else "int"
            out.append(("NUMBER", kind))
        else:
            out.append((t.type, t.string))
    return out
base = toks(open(sys.argv[1]).read())
bad = 0
for p in sys.argv[2:]:
    src = open(p).read()
    compile(src, p, "exec")
    if toks(src) != base:
        print("token mismatch:", p)
        bad += 1
sys.exit(1 if bad else 0)
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(origPath, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, append([]string{script, origPath}, mutants...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 rejected mutants: %v\n%s", err, out)
	}
}

const goProgram = "package main\n\nimport \"fmt\"\n\nconst raw = `a 1.5\nb 2`\n\n" +
	"// EVOLVE-BLOCK-START\n/* block comment 3.0 */\nvar rate float64 = 0.25\n\nconst n = 8\n\nvar r = 'x'\n\nvar arr = [3]int{1, 2, 3}\n\n" +
	"func f(x float64) float64 {\n\ts := \"str 4.5\"\n\t_ = s\n\treturn x*1.5e2 + float64(n)/2.0 - 0.0 + 1e-9\n}\n\n// EVOLVE-BLOCK-END\n" +
	"func main() { fmt.Println(f(rate), raw, arr, r, 0x10, 1i) }\n"

func goTokens(t *testing.T, src string) []string {
	t.Helper()
	fset := token.NewFileSet()
	if _, err := parser.ParseFile(fset, "m.go", src, parser.AllErrors); err != nil {
		t.Fatalf("mutant does not parse: %v\n%s", err, src)
	}
	var s scanner.Scanner
	s.Init(fset.AddFile("m.go", -1, len(src)), []byte(src), nil, scanner.ScanComments)
	var out []string
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.INT || tok == token.FLOAT {
			lit = ""
		}
		out = append(out, tok.String()+" "+lit)
	}
}

func TestOfflineGoSyntax(t *testing.T) {
	in := offlineInput(map[string]string{"m.go": goProgram}, "m.go")
	want := strings.Join(goTokens(t, goProgram), "\n")
	for seed := range uint64(200) {
		p := offlinePropose(t, OfflineResearcher{}, in, seed)
		if got := strings.Join(goTokens(t, string(p.Files["m.go"])), "\n"); got != want {
			t.Fatalf("seed %d changed more than numbers:\n%s", seed, p.Files["m.go"])
		}
	}
}

func TestOfflineCrossover(t *testing.T) {
	parent := "# EVOLVE-BLOCK-START\nx = 1.0\ny = 5\nz = 0.5\n# EVOLVE-BLOCK-END\n"
	insp := "# EVOLVE-BLOCK-START\nx = 3.7\ny = 12\nz = 0.5\n# EVOLVE-BLOCK-END\n"
	in := offlineInput(map[string]string{"p.py": parent}, "p.py")
	in.Inspirations = []evolve.Node{
		{Candidate: evolve.Candidate{ID: "1111111111111111111111111111111111111111"}, Files: map[string]string{"p.py": "x = 1\n"}}, // not aligned
		{Candidate: evolve.Candidate{ID: "2222222222222222222222222222222222222222"}, Files: map[string]string{"p.py": insp}},
	}
	r := OfflineResearcher{CrossoverRate: 1}
	sawBoth := false
	for seed := range uint64(40) {
		p := offlinePropose(t, r, in, seed)
		got := string(p.Files["p.py"])
		x := regexp.MustCompile(`x = (\S+)`).FindStringSubmatch(got)[1]
		y := regexp.MustCompile(`y = (\S+)`).FindStringSubmatch(got)[1]
		if (x != "1.0" && x != "3.7") || (y != "5" && y != "12") || got == parent || !strings.Contains(got, "z = 0.5") {
			t.Fatalf("seed %d: crossover gave %q", seed, got)
		}
		if !strings.HasPrefix(p.Title, "offline: crossover with 22222222, ") || !strings.Contains(p.Motivation, "taken from 22222222") {
			t.Fatalf("seed %d: title %q motivation %q", seed, p.Title, p.Motivation)
		}
		sawBoth = sawBoth || x == "3.7" && y == "12"
	}
	if !sawBoth {
		t.Fatal("crossover never took both differing literals")
	}

	// Without an aligned inspiration the proposal is a mutation.
	in.Inspirations = in.Inspirations[:1]
	if p := offlinePropose(t, r, in, 1); strings.Contains(p.Title, "crossover") || p.Invalid != "" {
		t.Fatalf("unaligned inspiration: %+v", p)
	}
}

func TestOfflineInvalid(t *testing.T) {
	r := OfflineResearcher{}
	src := "# EVOLVE-BLOCK-START\nname = 'x 1'\n# 2\nidx = a[0]\n# EVOLVE-BLOCK-END\nOUT = 3\n"
	p := offlinePropose(t, r, offlineInput(map[string]string{"p.py": src}, "p.py"), 1)
	if p.Invalid != "no numeric literal in the editable region of p.py" || string(p.Files["p.py"]) != src || p.Model != "offline" {
		t.Fatalf("proposal = %+v", p)
	}
	p = offlinePropose(t, r, offlineInput(map[string]string{"q.py": "x = 1\n"}, "p.py"), 1)
	if !strings.Contains(p.Invalid, "the parent has none of the editable files (p.py)") {
		t.Fatalf("proposal = %+v", p)
	}
	if _, err := r.Propose(context.Background(), offlineInput(map[string]string{"p.py": "x = 1\n"}, "p.py"), nil); err == nil {
		t.Fatal("nil random source accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Propose(ctx, offlineInput(map[string]string{"p.py": "x = 1\n"}, "p.py"), rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Fatal("cancelled context accepted")
	}
}

// objective is a program whose score depends on its constants: the best is
// x = 3.7 and y = 12, and y must stay an integer.
func constObjective(t testing.TB, src string) float64 {
	t.Helper()
	xs := regexp.MustCompile(`(?m)^x = (\S+)$`).FindStringSubmatch(src)
	ys := regexp.MustCompile(`(?m)^y = (\S+)$`).FindStringSubmatch(src)
	if xs == nil || ys == nil {
		t.Fatalf("program lost its constants:\n%s", src)
	}
	x, err := strconv.ParseFloat(xs[1], 64)
	if err != nil || !strings.Contains(xs[1], ".") {
		t.Fatalf("x = %q is not a float literal", xs[1])
	}
	y, err := strconv.Atoi(ys[1])
	if err != nil {
		t.Fatalf("y = %q is not an integer literal", ys[1])
	}
	return -(x-3.7)*(x-3.7) - float64(y-12)*float64(y-12)
}

const objectiveProgram = "# EVOLVE-BLOCK-START\nx = 1.0\ny = 5\n# EVOLVE-BLOCK-END\nprint(x, y)\n"

func TestOfflineImprovesAProgram(t *testing.T) {
	start := constObjective(t, objectiveProgram)
	for seed := uint64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		best, bestScore := objectiveProgram, start
		for step := range 300 {
			p, err := OfflineResearcher{}.Propose(context.Background(), offlineInput(map[string]string{"p.py": best}, "p.py"), rng)
			if err != nil || p.Invalid != "" {
				t.Fatalf("seed %d step %d: %v %s", seed, step, err, p.Invalid)
			}
			src := string(p.Files["p.py"])
			if s := constObjective(t, src); s >= bestScore {
				best, bestScore = src, s
			}
		}
		t.Logf("seed %d: score %.3g -> %.3g", seed, start, bestScore)
		if bestScore <= start || bestScore < -0.01 {
			t.Errorf("seed %d: score %g after 300 steps (start %g), program:\n%s", seed, bestScore, start, best)
		}
	}
}

func TestOfflinePopulationWithCrossover(t *testing.T) {
	// A steady-state population where crossover can combine a good x from one
	// member with a good y from another.
	type member struct {
		src   string
		score float64
	}
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 5))
		pop := []member{{objectiveProgram, constObjective(t, objectiveProgram)}}
		crossovers := 0
		for step := range 200 {
			parent := pop[rng.IntN(len(pop))]
			in := offlineInput(map[string]string{"p.py": parent.src}, "p.py")
			other := pop[rng.IntN(len(pop))]
			in.Inspirations = []evolve.Node{{Candidate: evolve.Candidate{ID: fmt.Sprintf("%040d", step)}, Files: map[string]string{"p.py": other.src}}}
			p, err := OfflineResearcher{}.Propose(context.Background(), in, rng)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(p.Title, "crossover") {
				crossovers++
			}
			src := string(p.Files["p.py"])
			pop = append(pop, member{src, constObjective(t, src)})
			if len(pop) > 8 { // drop the worst
				worst := 0
				for i := range pop {
					if pop[i].score < pop[worst].score {
						worst = i
					}
				}
				pop = append(pop[:worst], pop[worst+1:]...)
			}
		}
		best := math.Inf(-1)
		for _, m := range pop {
			best = math.Max(best, m.score)
		}
		if crossovers == 0 || best < -0.05 {
			t.Errorf("seed %d: best %g, %d crossovers", seed, best, crossovers)
		}
	}
}

func FuzzScanLiterals(f *testing.F) {
	f.Add(pyProgram, uint8(0))
	f.Add(goProgram, uint8(1))
	f.Add("float r = 0.5f; /* 1 */ long n = 10L; char c = '3';", uint8(2))
	f.Add("fn f<'a>(x: &'a u8) { for i in 0..5 { let y = 1.5f64; } }", uint8(4))
	f.Add("N=4 # 5\necho \"$# 6\" 7\n", uint8(3))
	exts := []string{"a.py", "a.go", "a.c", "a.sh", "a.rs", "a.lua", "initial_program"}
	f.Fuzz(func(t *testing.T, src string, which uint8) {
		file := exts[int(which)%len(exts)]
		ls := scanLiterals(file, src)
		prev := 0
		for _, l := range ls {
			if l.start < prev || l.end <= l.start || l.end > len(src) || src[l.start:l.end] != l.text {
				t.Fatalf("bad literal %+v (previous end %d)", l, prev)
			}
			prev = l.end + len(l.suffix)
		}
		// Replacing every literal by a mutation of itself must leave a program
		// whose literals are found again, one for one, with the same kind.
		rng := rand.New(rand.NewPCG(1, 1))
		out := src
		for i := len(ls) - 1; i >= 0; i-- {
			text, _ := mutateLiteral(ls[i], rng)
			out = out[:ls[i].start] + text + out[ls[i].end+len(ls[i].suffix):]
		}
		again := scanLiterals(file, out)
		if len(again) != len(ls) {
			t.Fatalf("%d literals in %q, %d after mutation in %q", len(ls), src, len(again), out)
		}
		for i := range ls {
			if again[i].isInt != ls[i].isInt || again[i].suffix != ls[i].suffix {
				t.Fatalf("literal %d changed kind: %q -> %q", i, ls[i].text, again[i].text)
			}
		}
	})
}

func BenchmarkOfflinePropose(b *testing.B) {
	in := offlineInput(map[string]string{"exp/prog.py": strings.Repeat(pyProgram, 20)}, "exp/prog.py")
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := (OfflineResearcher{}).Propose(context.Background(), in, rng); err != nil {
			b.Fatal(err)
		}
	}
}
