package evolve

// Configuration loading (DESIGN.md section 5).
//
// LoadConfig starts from DefaultConfig and merges each source in the order given:
// the caller passes evolve.yaml at the repository root, experiments/<exp>/config.yaml
// and the --config file, skipping those that do not exist. Command-line flags come
// last, either through ApplyFlags or by setting fields of the returned Config and
// calling Validate again.
//
// Merging: a mapping merges key by key into what the earlier layers set (this holds
// for the sections and for api.pricing); a list or a scalar replaces the earlier
// value as a whole. An empty value ("key:" or "key: ~") leaves the earlier value
// untouched, so a section whose keys are all commented out changes nothing; write
// `files: []` or `base_url: ""` to clear a value. A dotted key is short for the
// nested form: `api.model: x` is `api: {model: x}` (the two forms may be mixed;
// the later one wins). Model names under api.pricing are never split.
//
// Environment variables: ${NAME} anywhere in a scalar value is replaced by the
// variable's value before the value is parsed, so `num_workers: ${WORKERS}` works.
// ${NAME:-fallback} uses fallback when NAME is unset or empty. An unset variable
// without fallback is an error naming the file, the line and the key. $$ stands for
// a literal $; any other $ is kept as it is. Keys are never expanded.
//
// Refusals: an unknown key, a value of the wrong type, an unset variable and a
// literal secret (an OpenAI-style sk-… key, a GitHub ghp_…/github_pat_… token, or a
// key named api_key, token, password, secret…) are errors of type *ConfigError that
// read "file:line: key.path: what is wrong and what to do", on one line.

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// ConfigSource is one configuration file's contents. Name is how errors refer to
// it (a path relative to the repository root, or the --config argument).
type ConfigSource struct {
	Name string
	Data []byte
}

// ConfigError is a configuration problem located in a file. File and Line are
// empty when the problem does not come from a file (a built-in default or a value
// set by the caller); Key is the dotted key path, e.g. "pipeline.sample_n" or
// "evolve.files[1]". Err is the underlying parse error, if any.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
	Err  error
}

// Error renders "file:line: key: msg", leaving out the parts that are unknown.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(oneLine(e.Msg))
	return lineBreaks.Replace(b.String())
}

// lineBreaks escapes what would break an error over lines (a file name or key
// may hold anything).
var lineBreaks = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`, "\u0085", `\u0085`)

// Unwrap returns the underlying parse error, if any.
func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig returns DefaultConfig(exp) with sources merged over it in order, then
// validated. getenv looks up ${VAR} references (nil means no variable is set).
// Every error is a *ConfigError naming the file, the line and the key.
func LoadConfig(exp string, sources []ConfigSource, getenv func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig(exp)
	origins := map[string]position{}
	for _, src := range sources {
		root, err := parseConfigYAML(src.Name, src.Data)
		if err != nil {
			return Config{}, err
		}
		if root == nil {
			continue
		}
		if err := findSecrets(src.Name, root, ""); err != nil {
			return Config{}, err
		}
		d := &configDecoder{file: src.Name, getenv: getenv, expand: true, origins: origins}
		if err := d.value(reflect.ValueOf(&cfg).Elem(), root, ""); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, locate(err, origins)
	}
	return cfg, nil
}

// ApplyFlags sets configuration keys given on the command line, e.g.
// {"pipeline.sample_n": "5", "evolve.files": "a.py,b.py"}, over cfg, then
// validates the result. A key is a dotted path as listed by ConfigKeys; a list
// takes comma-separated items or a YAML flow list ("[a, b]"); a whole section or an
// api.pricing entry takes a YAML flow mapping ("{prompt: 1, completion: 2}"); any
// other value is taken literally (no ${VAR} expansion: the shell already did it).
// Errors name the key and "command line". cfg is left unchanged on error.
func ApplyFlags(cfg *Config, kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	next := *cfg
	next.API.Pricing = clonePricing(cfg.API.Pricing)
	origins := map[string]position{}
	const file = "command line"
	for _, k := range keys {
		node, err := flagNode(reflect.TypeOf(next), strings.Split(k, "."), "", kv[k])
		if err != nil {
			err.File = file
			return err
		}
		if err := findSecrets(file, node, ""); err != nil {
			return err
		}
		d := &configDecoder{file: file, origins: origins}
		if err := d.value(reflect.ValueOf(&next).Elem(), node, ""); err != nil {
			return err
		}
	}
	if err := next.Validate(); err != nil {
		return locate(err, origins)
	}
	*cfg = next
	return nil
}

func clonePricing(m map[string]Price) map[string]Price {
	if m == nil {
		return nil
	}
	out := make(map[string]Price, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// position is where a key was last set.
type position struct {
	file string
	line int
}

// locate fills in the file and line of a validation error from the origin of its key.
func locate(err error, origins map[string]position) error {
	var ce *ConfigError
	if errors.As(err, &ce) && ce.File == "" {
		if p, ok := origins[ce.Key]; ok {
			ce.File, ce.Line = p.file, p.line
		}
	}
	return err
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of go.yaml.in/yaml/v3's parser (as opposed
// to its scanner), whose line numbers are 0-based.
var yamlParserProblems = map[string]bool{
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
}

// parseConfigYAML parses one file and returns its top-level mapping, or nil for a
// file without content (empty, only comments, or a lone null).
func parseConfigYAML(name string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The parser is third-party code facing user input: a panic in it must
		// become an error, never a crash.
		if r := recover(); r != nil {
			root, err = nil, &ConfigError{File: name, Msg: fmt.Sprintf("invalid YAML (parser failure: %v)", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlSyntaxError(name, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &ConfigError{File: name, Line: extra.Line, Msg: "a config file holds one YAML document; remove the second one (after ---)"}
	case !errors.Is(err, io.EOF):
		return nil, yamlSyntaxError(name, data, err)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		n = n.Content[0]
	}
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, &ConfigError{File: name, Line: n.Line, Msg: "expected a mapping of keys (like `api:` or `pipeline:`) at the top level, got " + describeNode(n)}
	}
	return n, nil
}

func yamlSyntaxError(name string, data []byte, err error) error {
	msg := strings.TrimPrefix(oneLine(err.Error()), "yaml: ")
	ce := &ConfigError{File: name, Msg: "invalid YAML: " + msg, Err: err}
	if m := yamlLineErr.FindStringSubmatch(oneLine(err.Error())); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.Msg = "invalid YAML: " + m[2]
		msg = m[2]
	}
	if yamlParserProblems[msg] {
		// The parser reports these with a 0-based line (and none for line 1)
		// while the scanner's lines are 1-based.
		ce.Line++
	}
	if line, ok := tabIndented(data); ok && (ce.Line == 0 || line >= ce.Line-1 && line <= ce.Line+1) {
		// The parser sometimes reports the line before the tab; point at the tab.
		ce.Line = line
		ce.Msg += " (YAML indentation must use spaces, not tabs)"
	}
	return ce
}

// tabIndented returns the first line whose indentation contains a tab.
func tabIndented(data []byte) (int, bool) {
	for i, line := range bytes.Split(data, []byte("\n")) {
		indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			return i + 1, true
		}
	}
	return 0, false
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "an empty value"
		}
		return quoteShort(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "an unexpected YAML node"
}

// quoteShort quotes s for a message, cut to 40 characters.
func quoteShort(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}

// secretValue matches strings that look like API keys or tokens.
var secretValue = regexp.MustCompile(`\b(sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})`)

const useKeyEnv = "put the key in an environment variable and name it in api.key_env"

// findSecrets refuses any scalar (key or value) in the tree that looks like a
// literal secret. Aliases are not followed: the node they point to is scanned where
// it is defined.
func findSecrets(file string, n *yaml.Node, key string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := findSecrets(file, c, key); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := joinKey(key, k.Value)
			if err := findSecrets(file, k, child); err != nil {
				return err
			}
			if err := findSecrets(file, v, child); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := findSecrets(file, c, fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if m := secretValue.FindString(n.Value); m != "" {
			prefix := m[:strings.IndexAny(m, "-_")+1]
			if strings.HasPrefix(m, "github_pat_") {
				prefix = "github_pat_"
			}
			return &ConfigError{File: file, Line: n.Line, Key: key,
				Msg: fmt.Sprintf("refusing a literal secret (%s…) in a config file: %s", prefix, useKeyEnv)}
		}
	}
	return nil
}

// configDecoder merges YAML nodes into a Config by reflection, following the yaml
// struct tags, so that every problem can name its file, line and key.
type configDecoder struct {
	file    string
	getenv  func(string) (string, bool)
	expand  bool // expand ${VAR}; off for command-line values
	origins map[string]position
}

func (d *configDecoder) fail(n *yaml.Node, key, format string, args ...any) *ConfigError {
	return &ConfigError{File: d.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (d *configDecoder) typeError(n *yaml.Node, key string, t reflect.Type) *ConfigError {
	return d.fail(n, key, "expected %s, got %s", expectedType(t), describeNode(n))
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// value merges node n into v (addressable) at key path key.
func (d *configDecoder) value(v reflect.Value, n *yaml.Node, key string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return nil
	}
	if d.origins != nil && key != "" {
		d.origins[key] = position{d.file, n.Line}
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshaler) {
		s, err := d.scalar(n, key, v.Type())
		if err != nil {
			return err
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			ce := d.fail(n, key, "%v", err)
			ce.Err = err
			return ce
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.structValue(v, n, key)
	case reflect.Map:
		return d.mapValue(v, n, key)
	case reflect.Slice:
		return d.listValue(v, n, key)
	}
	s, err := d.scalar(n, key, v.Type())
	if err != nil {
		return err
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, ok := parseBool(s)
		if !ok {
			return d.typeError(n, key, v.Type())
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if errors.Is(err, strconv.ErrRange) {
			return d.fail(n, key, "%s is out of range", quoteShort(s))
		}
		if err != nil {
			return d.fail(n, key, "expected %s, got %s", expectedType(v.Type()), quoteShort(s))
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return d.fail(n, key, "expected %s, got %s", expectedType(v.Type()), quoteShort(s))
		}
		v.SetFloat(f)
	default:
		return d.fail(n, key, "cannot be set from a config file (type %s)", v.Type())
	}
	return nil
}

// scalar returns the expanded text of a scalar node.
func (d *configDecoder) scalar(n *yaml.Node, key string, t reflect.Type) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", d.typeError(n, key, t)
	}
	if !d.expand {
		return n.Value, nil
	}
	s, err := expandVars(n.Value, d.getenv)
	if err != nil {
		return "", d.fail(n, key, "%v", err)
	}
	return s, nil
}

func (d *configDecoder) structValue(v reflect.Value, n *yaml.Node, key string) error {
	if n.Kind != yaml.MappingNode {
		return d.typeError(n, key, v.Type())
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name, err := d.mappingKey(k, key, seen)
		if err != nil {
			return err
		}
		f, ok := fieldByTag(v.Type(), name)
		if !ok {
			head, rest, dotted := strings.Cut(name, ".")
			if f, ok = fieldByTag(v.Type(), head); !dotted || !ok || rest == "" {
				return d.unknownKey(k, key, v.Type())
			}
			// A dotted key, "api.model: x", is short for "api: {model: x}".
			name, val = head, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column,
				Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: rest, Line: k.Line, Column: k.Column}, val}}
		}
		if err := d.value(v.Field(f), val, joinKey(key, name)); err != nil {
			return err
		}
	}
	return nil
}

// mappingKey checks that k is a plain, not yet seen key and returns its name.
func (d *configDecoder) mappingKey(k *yaml.Node, parent string, seen map[string]int) (string, error) {
	if k.Kind != yaml.ScalarNode {
		return "", d.fail(k, parent, "keys must be plain names, got %s", describeNode(k))
	}
	if k.ShortTag() == "!!merge" {
		return "", d.fail(k, parent, "merge keys (<<) are not supported; write the keys out")
	}
	if first, dup := seen[k.Value]; dup {
		return "", d.fail(k, joinKey(parent, k.Value), "duplicate key (first set at line %d); keep one", first)
	}
	seen[k.Value] = k.Line
	return k.Value, nil
}

func (d *configDecoder) mapValue(v reflect.Value, n *yaml.Node, key string) error {
	if n.Kind != yaml.MappingNode {
		return d.typeError(n, key, v.Type())
	}
	if v.Type().Key().Kind() != reflect.String {
		return d.fail(n, key, "cannot be set from a config file (type %s)", v.Type())
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name, err := d.mappingKey(k, key, seen)
		if err != nil {
			return err
		}
		if strings.TrimSpace(name) == "" {
			return d.fail(k, key, "names must not be empty")
		}
		if val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		if isNull(val) {
			continue
		}
		mk := reflect.ValueOf(name).Convert(v.Type().Key())
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(mk); old.IsValid() {
			elem.Set(old)
		}
		if err := d.value(elem, val, joinKey(key, name)); err != nil {
			return err
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(mk, elem)
	}
	return nil
}

func (d *configDecoder) listValue(v reflect.Value, n *yaml.Node, key string) error {
	if n.Kind != yaml.SequenceNode {
		return d.typeError(n, key, v.Type())
	}
	if len(n.Content) == 0 {
		v.SetZero() // an empty list clears; nil keeps YAML() output loadable to the same value
		return nil
	}
	list := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		if item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		if isNull(item) {
			return d.fail(item, ik, "list items must not be empty")
		}
		if err := d.value(list.Index(i), item, ik); err != nil {
			return err
		}
	}
	v.Set(list)
	return nil
}

// unknownKey explains a key that has no field in struct type t.
func (d *configDecoder) unknownKey(k *yaml.Node, parent string, t reflect.Type) error {
	full := joinKey(parent, k.Value)
	if secretKeyName(k.Value) {
		return d.fail(k, full, "a literal API key or token does not belong in a config file: %s", useKeyEnv)
	}
	msg := "unknown key"
	if s := suggestKey(k.Value, t); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return d.fail(k, full, "%s", msg)
}

// secretKeyName reports whether a key is named like a credential.
func secretKeyName(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	for _, w := range []string{"key", "apikey", "token", "password", "passwd", "secret"} {
		if n == w || strings.HasSuffix(n, "_"+w) {
			return true
		}
	}
	return false
}

// suggestKey proposes a known key close to name: a sibling in t by edit distance
// ("sample_n"), else the full path of a key elsewhere with that name
// ("pipeline.sample_n").
func suggestKey(name string, t reflect.Type) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	n := norm(name)
	best, bestDist, prefixed := "", math.MaxInt, []string(nil)
	for i := 0; i < t.NumField(); i++ {
		tag := yamlName(t.Field(i))
		if tag == "" {
			continue
		}
		if dist := editDistance(n, tag); dist < bestDist {
			best, bestDist = tag, dist
		}
		if len(n) >= 3 && (strings.HasPrefix(tag, n) || strings.HasSuffix(tag, "_"+n)) {
			prefixed = append(prefixed, tag)
		}
	}
	limit := 1
	if len(n) >= 5 {
		limit = 2
	}
	if len(n) >= 9 {
		limit = 3
	}
	if best != "" && bestDist <= limit {
		return best
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	// Elsewhere in the tree: the key with that name, or the one closest to it.
	var found []string
	foundDist := limit + 1
	walkKeys(reflect.TypeFor[Config](), "", func(p string, _ reflect.Type) {
		dist := editDistance(n, p[strings.LastIndex(p, ".")+1:])
		switch {
		case dist < foundDist:
			found, foundDist = []string{p}, dist
		case dist == foundDist:
			found = append(found, p)
		}
	})
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// walkKeys calls fn for every key path under struct type t, sections included
// (a map such as api.pricing is one key).
func walkKeys(t reflect.Type, prefix string, fn func(path string, t reflect.Type)) {
	for i := 0; i < t.NumField(); i++ {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		p := joinKey(prefix, name)
		ft := t.Field(i).Type
		fn(p, ft)
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshaler) {
			walkKeys(ft, p, fn)
		}
	}
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

func fieldByTag(t reflect.Type, name string) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		if n := yamlName(t.Field(i)); n != "" && n == name {
			return i, true
		}
	}
	return 0, false
}

// joinKey appends name to a dotted key path, quoting names that contain dots or
// spaces (model names in api.pricing may).
func joinKey(parent, name string) string {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r == '.' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) {
		name = strconv.Quote(name)
	}
	if parent == "" {
		return name
	}
	return parent + "." + name
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// typeName is the short name of a key's type, as listed by ConfigKeys.
func typeName(t reflect.Type) string {
	switch t {
	case durationType:
		return "duration"
	case byteSizeType:
		return "size"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		return "map of name to " + typeName(t.Elem())
	case reflect.Struct:
		var fs []string
		for i := 0; i < t.NumField(); i++ {
			if n := yamlName(t.Field(i)); n != "" {
				fs = append(fs, n)
			}
		}
		return "{" + strings.Join(fs, ", ") + "}"
	}
	return t.String()
}

// expectedType phrases a type for "expected …" messages.
func expectedType(t reflect.Type) string {
	switch t {
	case durationType:
		return "a duration (e.g. 300s, 5m or a number of seconds)"
	case byteSizeType:
		return "a size (e.g. 512MiB, 2GiB or a number of bytes)"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		return "a mapping of names to " + typeName(t.Elem())
	case reflect.Struct:
		return "a mapping with keys " + typeName(t)
	}
	return t.String()
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// expandVars replaces ${NAME} and ${NAME:-fallback} with values from getenv and
// $$ with $. Any other $ is kept.
func expandVars(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q (write $$ for a literal $)", s)
		}
		ref := s[i+2 : i+2+end]
		name, fallback, hasFallback := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s} is not a valid variable reference (write $$ for a literal $)", ref)
		}
		val, ok := "", false
		if getenv != nil {
			val, ok = getenv(name)
		}
		switch {
		case hasFallback && val == "":
			val = fallback
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(val)
		i += 2 + end
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// flagNode builds the YAML node that sets key path segs (under struct or map type
// t) to raw.
func flagNode(t reflect.Type, segs []string, prefix, raw string) (*yaml.Node, *ConfigError) {
	if len(segs) == 0 {
		return flagValue(t, prefix, raw)
	}
	mapping := func(k string, v *yaml.Node) *yaml.Node {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v}}
	}
	switch {
	case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler):
		f, ok := fieldByTag(t, segs[0])
		if !ok {
			full := joinKey(prefix, segs[0])
			if secretKeyName(segs[0]) {
				return nil, &ConfigError{Key: full, Msg: "a literal API key or token does not belong in the configuration: " + useKeyEnv}
			}
			msg := "unknown key"
			if s := suggestKey(segs[0], t); s != "" {
				msg += "; did you mean " + s + "?"
			}
			return nil, &ConfigError{Key: full, Msg: msg}
		}
		child, err := flagNode(t.Field(f).Type, segs[1:], joinKey(prefix, segs[0]), raw)
		if err != nil {
			return nil, err
		}
		return mapping(segs[0], child), nil
	case t.Kind() == reflect.Map:
		// Model names may contain dots: the last segment is a field of the entry
		// when it names one, and the rest is the entry's name.
		name, rest := strings.Join(segs, "."), []string(nil)
		if et := t.Elem(); len(segs) > 1 && et.Kind() == reflect.Struct {
			if _, ok := fieldByTag(et, segs[len(segs)-1]); ok {
				name, rest = strings.Join(segs[:len(segs)-1], "."), segs[len(segs)-1:]
			}
		}
		child, err := flagNode(t.Elem(), rest, joinKey(prefix, name), raw)
		if err != nil {
			return nil, err
		}
		return mapping(name, child), nil
	}
	return nil, &ConfigError{Key: joinKey(prefix, strings.Join(segs, ".")), Msg: fmt.Sprintf("unknown key (%s is %s, it has no sub-keys)", prefix, typeName(t))}
}

// flagValue turns a command-line value into a node for type t.
func flagValue(t reflect.Type, key, raw string) (*yaml.Node, *ConfigError) {
	scalar := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	isText := reflect.PointerTo(t).Implements(textUnmarshaler)
	switch {
	case !isText && t.Kind() == reflect.Slice && !strings.HasPrefix(strings.TrimSpace(raw), "["):
		list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, item := range strings.Split(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list.Content = append(list.Content, scalar(item))
			}
		}
		return list, nil
	case !isText && (t.Kind() == reflect.Slice || t.Kind() == reflect.Struct || t.Kind() == reflect.Map):
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
			return nil, &ConfigError{Key: key, Msg: fmt.Sprintf("expected %s in YAML flow style, got %q", expectedType(t), raw), Err: err}
		}
		if len(doc.Content) == 0 {
			return nil, &ConfigError{Key: key, Msg: fmt.Sprintf("expected %s, got an empty value", expectedType(t))}
		}
		return doc.Content[0], nil
	}
	return scalar(raw), nil
}

// Validate checks values and combinations the types alone do not rule out. The
// error is a *ConfigError naming the offending key (LoadConfig adds the file and
// line where that key was set).
func (c Config) Validate() error {
	var v validator
	v.check(strings.TrimSpace(c.API.Model) != "", "api.model", "must not be empty")
	v.url("api.base_url", c.API.BaseURL)
	v.check(c.API.KeyEnv == "" || validEnvName(c.API.KeyEnv), "api.key_env",
		"must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself")
	v.check(c.API.Temperature >= 0 && c.API.Temperature <= 2, "api.temperature", "must be between 0 and 2, got %g", c.API.Temperature)
	v.check(c.API.MaxTokens >= 1, "api.max_tokens", "must be at least 1, got %d", c.API.MaxTokens)
	v.check(c.API.Timeout > 0, "api.timeout", "must be longer than 0s")
	v.check(c.API.RetryTimes >= 0, "api.retry_times", "must not be negative, got %d", c.API.RetryTimes)
	models := make([]string, 0, len(c.API.Pricing))
	for m := range c.API.Pricing {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		p := c.API.Pricing[m]
		key := joinKey("api.pricing", m)
		v.check(p.Prompt >= 0, key+".prompt", "must not be negative, got %g", p.Prompt)
		v.check(p.Completion >= 0, key+".completion", "must not be negative, got %g", p.Completion)
	}

	v.check(c.Pipeline.SampleN >= 1, "pipeline.sample_n", "must be at least 1, got %d", c.Pipeline.SampleN)
	v.check(c.Pipeline.MaxCodeLength >= 1, "pipeline.max_code_length", "must be at least 1, got %d", c.Pipeline.MaxCodeLength)
	v.check(c.Pipeline.Parallel.NumWorkers >= 1, "pipeline.parallel.num_workers", "must be at least 1, got %d", c.Pipeline.Parallel.NumWorkers)

	s := c.Database.Sampling
	switch s.Algorithm {
	case "ucb1", "greedy", "random", "island":
	default:
		v.check(false, "database.sampling.algorithm", "must be one of ucb1, greedy, random, island, got %q", s.Algorithm)
	}
	v.check(s.UCB1C >= 0, "database.sampling.ucb1_c", "must not be negative, got %g", s.UCB1C)
	is := s.Island
	v.check(is.NumIslands >= 1, "database.sampling.island.num_islands", "must be at least 1, got %d", is.NumIslands)
	v.check(is.MigrationInterval >= 1, "database.sampling.island.migration_interval", "must be at least 1, got %d", is.MigrationInterval)
	v.ratio("database.sampling.island.migration_rate", is.MigrationRate)
	v.ratio("database.sampling.island.exploration_ratio", is.ExplorationRatio)
	v.ratio("database.sampling.island.exploitation_ratio", is.ExploitationRatio)
	v.check(is.ExplorationRatio+is.ExploitationRatio <= 1, "database.sampling.island.exploitation_ratio",
		"exploration_ratio + exploitation_ratio must not exceed 1, got %g", is.ExplorationRatio+is.ExploitationRatio)
	for i, f := range is.Features {
		v.check(strings.TrimSpace(f) != "", fmt.Sprintf("database.sampling.island.features[%d]", i), "must not be empty")
	}
	v.check(is.Bins >= 1, "database.sampling.island.bins", "must be at least 1, got %d", is.Bins)

	v.check(c.Cognition.Retrieval.TopK >= 0, "cognition.retrieval.top_k", "must not be negative, got %d", c.Cognition.Retrieval.TopK)
	v.ratio("cognition.retrieval.score_threshold", c.Cognition.Retrieval.ScoreThreshold)
	v.url("cognition.embedding.base_url", c.Cognition.Embedding.BaseURL)

	v.check(strings.TrimSpace(c.Eval.Script) != "", "eval.script", "must not be empty")
	v.check(c.Eval.Timeout > 0, "eval.timeout", "must be longer than 0s")
	v.check(c.Eval.Direction == Maximize || c.Eval.Direction == Minimize, "eval.direction", "must be maximize or minimize, got %q", c.Eval.Direction)
	v.check(c.Eval.MemoryLimit >= 0, "eval.memory_limit", "must not be negative")
	v.check(c.Eval.MaxOutput > 0, "eval.max_output", "must be larger than 0")
	for i, name := range c.Eval.DenyEnv {
		v.check(strings.TrimSpace(name) != "", fmt.Sprintf("eval.deny_env[%d]", i), "must not be empty")
	}

	v.check(len(c.Evolve.Files) > 0, "evolve.files", "must list at least one file or pattern")
	for i, f := range c.Evolve.Files {
		key := fmt.Sprintf("evolve.files[%d]", i)
		_, badGlob := path.Match(f, "")
		clean := path.Clean(f)
		v.check(strings.TrimSpace(f) != "", key, "must not be empty")
		v.check(!strings.HasPrefix(f, "/") && !strings.HasPrefix(clean, "../") && clean != "..", key,
			"%q must be relative to the repository root and stay inside it", f)
		v.check(badGlob == nil, key, "%q is not a valid pattern", f)
	}

	v.check(c.Budget.MaxSteps >= 0, "budget.max_steps", "must not be negative (0 means no limit), got %d", c.Budget.MaxSteps)
	v.check(c.Budget.MaxTokens >= 0, "budget.max_tokens", "must not be negative (0 means no limit), got %d", c.Budget.MaxTokens)
	v.check(c.Budget.MaxUSD >= 0, "budget.max_usd", "must not be negative (0 means no limit), got %g", c.Budget.MaxUSD)
	v.check(c.Sync.Every >= 1, "sync.every", "must be at least 1, got %d", c.Sync.Every)
	return v.err
}

// validator keeps the first failed check.
type validator struct{ err error }

func (v *validator) check(ok bool, key, format string, args ...any) {
	if !ok && v.err == nil {
		v.err = &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
}

func (v *validator) ratio(key string, f float64) {
	v.check(f >= 0 && f <= 1, key, "must be between 0 and 1, got %g", f)
}

func (v *validator) url(key, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	v.check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", key,
		"must be an http:// or https:// URL, got %q", s)
}

// KeyDoc describes one configuration key for `git evolve init`'s commented
// config.yaml and for the documentation.
type KeyDoc struct {
	Key     string `json:"key"`     // dotted path, e.g. "pipeline.sample_n"
	Type    string `json:"type"`    // string, integer, number, bool, duration, size, list of strings, map of name to {…}
	Default string `json:"default"` // the built-in default as YAML ("<exp>" stands for the experiment name)
	Doc     string `json:"doc"`     // one-line description
}

// keyDescriptions documents every leaf key; a test checks it matches Config.
var keyDescriptions = map[string]string{
	"api.model":                                   "chat model (any OpenAI-compatible endpoint)",
	"api.base_url":                                "endpoint URL for vLLM, Ollama, LiteLLM or a proxy; empty means $OPENAI_BASE_URL or OpenAI's",
	"api.key_env":                                 "NAME of the environment variable holding the API key (never the key itself)",
	"api.temperature":                             "sampling temperature, 0 to 2",
	"api.max_tokens":                              "maximum tokens in one reply",
	"api.timeout":                                 "timeout of one LLM request",
	"api.retry_times":                             "retries of a failed LLM request",
	"api.pricing":                                 "USD per million tokens by model name, for budget.max_usd: {prompt: …, completion: …}",
	"pipeline.sample_n":                           "nodes shown to the Researcher",
	"pipeline.diff_based_evolution":               "ask for SEARCH/REPLACE edits (true) or full rewrites (false)",
	"pipeline.max_code_length":                    "longest program (characters) accepted from the Researcher",
	"pipeline.parallel.num_workers":               "concurrent steps",
	"database.sampling.algorithm":                 "parent selection: ucb1, greedy, random or island",
	"database.sampling.ucb1_c":                    "UCB1 exploration constant",
	"database.sampling.island.num_islands":        "number of islands",
	"database.sampling.island.migration_interval": "generations between migrations",
	"database.sampling.island.migration_rate":     "share of an island that migrates, 0 to 1",
	"database.sampling.island.exploration_ratio":  "share of random picks, 0 to 1",
	"database.sampling.island.exploitation_ratio": "share of picks from the elite, 0 to 1",
	"database.sampling.island.features":           "MAP-Elites feature dimensions",
	"database.sampling.island.bins":               "bins per feature dimension",
	"cognition.retrieval.top_k":                   "knowledge items given to the Researcher",
	"cognition.retrieval.score_threshold":         "minimum similarity of a retrieved item, 0 to 1",
	"cognition.embedding.model":                   "embedding model on the same endpoint; empty means the offline embedder",
	"cognition.embedding.base_url":                "endpoint for embeddings when it differs from api.base_url",
	"eval.script":                                 "evaluation script (--eval-script overrides)",
	"eval.timeout":                                "hard kill of the evaluation's whole process group",
	"eval.direction":                              "maximize or minimize the score",
	"eval.memory_limit":                           "memory limit of the evaluation; 0 means none",
	"eval.max_output":                             "bytes of stdout and of stderr kept from the evaluation",
	"eval.deny_env":                               "extra environment variables removed from the evaluation's environment",
	"evolve.files":                                "editable files (globs relative to the repository root)",
	"budget.max_steps":                            "stop after this many steps; 0 means no limit",
	"budget.max_tokens":                           "stop after this many LLM tokens; 0 means no limit",
	"budget.max_usd":                              "stop after this much spend (needs api.pricing); 0 means no limit",
	"sync.remote":                                 "remote that `step --sync` pushes to and fetches from",
	"sync.every":                                  "sync every this many steps",
}

// ConfigKeys lists every configuration key in the order of the Config struct,
// with its type, its default and a short description. Defaults that depend on the
// experiment name show it as <exp>.
func ConfigKeys() []KeyDoc {
	def := reflect.ValueOf(DefaultConfig("<exp>"))
	var docs []KeyDoc
	walkKeys(def.Type(), "", func(p string, t reflect.Type) {
		if t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler) {
			return
		}
		docs = append(docs, KeyDoc{Key: p, Type: typeName(t), Default: renderDefault(valueAt(def, p)), Doc: keyDescriptions[p]})
	})
	return docs
}

// valueAt returns the field of struct value v at dotted path p (no map segments).
func valueAt(v reflect.Value, p string) reflect.Value {
	for _, seg := range strings.Split(p, ".") {
		i, _ := fieldByTag(v.Type(), seg)
		v = v.Field(i)
	}
	return v
}

// renderDefault renders a value as it would be written in YAML on one line.
func renderDefault(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case Duration:
		if d := x.D(); d%time.Second == 0 {
			return fmt.Sprintf("%ds", d/time.Second)
		}
		return x.String()
	case ByteSize:
		for _, u := range []struct {
			n    ByteSize
			name string
		}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
			if x != 0 && x%u.n == 0 {
				return fmt.Sprintf("%d%s", x/u.n, u.name)
			}
		}
		return strconv.FormatInt(int64(x), 10)
	}
	switch v.Kind() {
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = renderDefault(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Map:
		if v.Len() == 0 {
			return "{}"
		}
		b, _ := yaml.Marshal(v.Interface())
		return strings.TrimSpace(string(b))
	case reflect.String:
		b, _ := yaml.Marshal(v.String())
		return strings.TrimSpace(string(b))
	}
	b, _ := yaml.Marshal(v.Interface())
	return strings.TrimSpace(string(b))
}

// YAML renders the configuration as YAML, every key included, for `git evolve
// config`. Loading the output back gives the same Config, unless a string holds
// "${" or "$$" (written as they are, they would be expanded again).
func (c Config) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("render config as YAML: %w", err)
	}
	return b, nil
}
