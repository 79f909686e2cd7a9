package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the environment variable of every key.
const EnvPrefix = "GRANTD_"

// EnvConfigFile names the configuration file when --config is not given.
// It is read by the CLI, not by Load.
const EnvConfigFile = "GRANTD_CONFIG"

// Variables of the commands that talk to a running grantd over HTTP
// (grantd import; docs/cli.md): not configuration keys, and no typo.
const (
	EnvURL    = "GRANTD_URL"
	EnvAPIKey = "GRANTD_API_KEY"
)

// Key describes one configuration key.
type Key struct {
	// Path is the dotted YAML key path, e.g. "providers.google.token_url".
	Path string
	// Env is the environment variable, e.g. "GRANTD_PROVIDERS_GOOGLE_TOKEN_URL".
	Env string
	// Type is "string", "int", "bool", "duration" or "list" (a YAML
	// sequence, or a comma-separated string).
	Type string
	// Secret marks keys whose values must not be printed (tag
	// `grantd:"secret"`).
	Secret bool
}

// field is a Key plus where it lives in Config.
type field struct {
	Key
	index []int
	// optional: a URL key that may be empty (tag `grantd:"optional"`).
	optional bool
}

type schema struct {
	fields   []field
	byPath   map[string]*field
	byEnv    map[string]*field
	sections map[string]bool // dotted paths of nested structs
}

var durationType = reflect.TypeFor[time.Duration]()

// getSchema derives the keys from Config's yaml tags, once.
var getSchema = sync.OnceValue(func() *schema {
	s := &schema{byPath: map[string]*field{}, byEnv: map[string]*field{}, sections: map[string]bool{}}
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if !sf.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				panic(fmt.Sprintf("config: field %s.%s has no yaml tag", t, sf.Name))
			}
			path := prefix + name
			idx := append(append([]int(nil), index...), i)
			if sf.Type.Kind() == reflect.Struct {
				s.sections[path] = true
				walk(sf.Type, path+".", idx)
				continue
			}
			var typ string
			switch {
			case sf.Type == durationType:
				typ = "duration"
			case sf.Type.Kind() == reflect.String:
				typ = "string"
			case sf.Type.Kind() == reflect.Int, sf.Type.Kind() == reflect.Int64:
				typ = "int"
			case sf.Type.Kind() == reflect.Bool:
				typ = "bool"
			case sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.String:
				typ = "list"
			default:
				panic(fmt.Sprintf("config: key %s has unsupported type %s", path, sf.Type))
			}
			env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
			tags := strings.Split(sf.Tag.Get("grantd"), ",")
			f := field{Key: Key{Path: path, Env: env, Type: typ, Secret: slices.Contains(tags, "secret")}, index: idx,
				optional: slices.Contains(tags, "optional")}
			s.fields = append(s.fields, f)
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	for i := range s.fields {
		f := &s.fields[i]
		if s.byEnv[f.Env] != nil {
			panic(fmt.Sprintf("config: keys %s and %s share the variable %s", s.byEnv[f.Env].Path, f.Path, f.Env))
		}
		s.byPath[f.Path] = f
		s.byEnv[f.Env] = f
	}
	return s
})

// Keys lists every configuration key in declaration order.
func Keys() []Key {
	fs := getSchema().fields
	out := make([]Key, len(fs))
	for i, f := range fs {
		out[i] = f.Key
	}
	return out
}

// expected describes the accepted values of a type, for error messages.
func expected(typ string) string {
	switch typ {
	case "int":
		return "an integer"
	case "bool":
		return "true or false"
	case "duration":
		return "a duration such as 500ms, 10s or 1m30s"
	case "list":
		return "a comma-separated list"
	}
	return "a string"
}

// set parses s into the field of c. The error says what was expected and,
// unless the key is secret, what was got.
func (f *field) set(c *Config, s string) error {
	v := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
	bad := func() error {
		if f.Secret {
			return fmt.Errorf("expected %s", expected(f.Type))
		}
		return fmt.Errorf("expected %s, got %q", expected(f.Type), s)
	}
	switch f.Type {
	case "string":
		v.SetString(s)
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return bad()
		}
		v.SetInt(n)
	case "bool":
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return bad()
		}
		v.SetBool(b)
	case "duration":
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return bad()
		}
		v.SetInt(int64(d))
	case "list":
		v.Set(reflect.ValueOf(splitList(s)))
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// get formats the field's value as set would accept it.
func (f *field) get(c *Config) string {
	v := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
	switch f.Type {
	case "int":
		return strconv.FormatInt(v.Int(), 10)
	case "bool":
		return strconv.FormatBool(v.Bool())
	case "duration":
		return time.Duration(v.Int()).String()
	case "list":
		return strings.Join(v.Interface().([]string), ",")
	}
	return v.String()
}

// Set sets one key by its dotted path (e.g. "http.read_timeout") from its
// string form, as in the environment. The CLI applies flags with it.
func (c *Config) Set(key, value string) error {
	f := getSchema().byPath[key]
	if f == nil {
		return fmt.Errorf("config: unknown key %q", key)
	}
	if err := f.set(c, value); err != nil {
		return fmt.Errorf("config: %s: %w", key, err)
	}
	return nil
}

// Get returns one key's value in the string form Set accepts. Check
// Key.Secret before printing it.
func (c Config) Get(key string) (string, error) {
	f := getSchema().byPath[key]
	if f == nil {
		return "", fmt.Errorf("config: unknown key %q", key)
	}
	return f.get(&c), nil
}

// Load returns the configuration: Default(), then the YAML file at path
// (skipped when path is ""), then the GRANTD_* variables of environ
// ("NAME=value" strings, as os.Environ returns; for a repeated name the last
// wins). It does not call Validate: apply flags with Set first.
//
// The file is strict: an unknown or repeated key is an error naming the key,
// the file and the line. Values are parsed as in the environment (durations
// like 10s, integers, true/false); a list may be a YAML sequence or a
// comma-separated string; a null value (`key:` or `key: ~`) sets the zero
// value.
//
// In the environment, a set but empty variable sets a string key to "" and
// is an error for other types. GRANTD_* variables that name no key are
// ignored (see UnknownEnv).
func Load(path string, environ []string) (Config, error) {
	c := Default()
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return Config{}, err
		}
	}
	if err := c.applyEnv(environ); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) applyEnv(environ []string) error {
	s := getSchema()
	vals := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if ok && s.byEnv[name] != nil {
			vals[name] = val
		}
	}
	var errs []error
	for i := range s.fields {
		f := &s.fields[i]
		val, ok := vals[f.Env]
		if !ok {
			continue
		}
		if val == "" && f.Type != "string" && f.Type != "list" {
			errs = append(errs, fmt.Errorf("config: environment variable %s is empty, expected %s", f.Env, expected(f.Type)))
			continue
		}
		if err := f.set(c, val); err != nil {
			errs = append(errs, fmt.Errorf("config: environment variable %s (key %s): %w", f.Env, f.Path, err))
		}
	}
	return errors.Join(errs...)
}

// Environ is the environment of a grantd process configured as c: base
// without its GRANTD_* variables, then one variable for each key whose
// value differs from the default (for tests and tools that start grantd).
func (c Config) Environ(base []string) []string {
	var env []string
	for _, kv := range base {
		if !strings.HasPrefix(kv, EnvPrefix) {
			env = append(env, kv)
		}
	}
	def := Default()
	for _, k := range Keys() {
		v, _ := c.Get(k.Path)
		if d, _ := def.Get(k.Path); v != d {
			env = append(env, k.Env+"="+v)
		}
	}
	return env
}

// UnknownEnv returns the names of the GRANTD_* variables in environ that
// name no key (other than GRANTD_CONFIG and the client variables
// GRANTD_URL and GRANTD_API_KEY), typically typos worth a warning.
func UnknownEnv(environ []string) []string {
	s := getSchema()
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && name != EnvConfigFile && name != EnvURL && name != EnvAPIKey && s.byEnv[name] == nil {
			out = append(out, name)
		}
	}
	return out
}

// loadFile applies the YAML file at path on top of c.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: more than one YAML document", path)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil
	}
	l := fileLoader{path: path, c: c, s: getSchema()}
	l.mapping(root, "")
	return errors.Join(l.errs...)
}

type fileLoader struct {
	path string
	c    *Config
	s    *schema
	errs []error
}

func (l *fileLoader) errorf(n *yaml.Node, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("config file %s: line %d: %s", l.path, n.Line, fmt.Sprintf(format, args...)))
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	}
	return "a scalar"
}

// mapping applies a mapping node whose keys are below prefix ("" or
// "section.").
func (l *fileLoader) mapping(n *yaml.Node, prefix string) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		what := "the top level"
		if prefix != "" {
			what = strings.TrimSuffix(prefix, ".")
		}
		l.errorf(n, "%s: expected a mapping of keys, got %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		if kn.Kind != yaml.ScalarNode {
			l.errorf(kn, "keys must be strings")
			continue
		}
		path := prefix + kn.Value
		if seen[path] {
			l.errorf(kn, "key %q appears twice", path)
			continue
		}
		seen[path] = true
		if l.s.sections[path] {
			if !isNull(vn) {
				l.mapping(vn, path+".")
			}
			continue
		}
		f := l.s.byPath[path]
		if f == nil {
			l.errorf(kn, "unknown key %q", path)
			continue
		}
		l.value(f, vn)
	}
}

func (l *fileLoader) value(f *field, n *yaml.Node) {
	v := reflect.ValueOf(l.c).Elem().FieldByIndex(f.index)
	switch {
	case isNull(n):
		v.SetZero()
	case n.Kind == yaml.ScalarNode:
		if err := f.set(l.c, n.Value); err != nil {
			l.errorf(n, "%s: %v", f.Path, err)
		}
	case n.Kind == yaml.SequenceNode && f.Type == "list":
		items := []string{}
		for _, it := range n.Content {
			it = resolve(it)
			if it.Kind != yaml.ScalarNode {
				l.errorf(it, "%s: list items must be scalars", f.Path)
				return
			}
			items = append(items, it.Value)
		}
		v.Set(reflect.ValueOf(items))
	default:
		l.errorf(n, "%s: expected %s, got %s", f.Path, expected(f.Type), kindName(n))
	}
}
