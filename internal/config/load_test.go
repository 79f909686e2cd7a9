package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "grantd.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load with nothing = %+v, want Default()", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, `
listen: 0.0.0.0:9000
data_dir: /from/file
log:
  level: debug
http:
  read_timeout: 45s
  max_body_bytes: 2048
network:
  allow_insecure: true
providers:
  google:
    token_url: http://file.example/token
  icloud:
    imap_port: 1993
`)
	env := []string{
		"HOME=/root",
		"GRANTD_DATA_DIR=/from/env",
		"GRANTD_HTTP_READ_TIMEOUT=1m30s",
		"GRANTD_PROVIDERS_GOOGLE_TOKEN_URL=http://env.example/token",
		"GRANTD_VAULT_KEYRING=k1:AAAA",
		"GRANTD_NETWORK_ALLOW_INSECURE=false",
		"GRANTD_LOG_FORMAT=text",
		"GRANTD_LOG_FORMAT=json", // last wins
	}
	c, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	// Flags go on top with Set.
	if err := c.Set("data_dir", "/from/flag"); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		got, want any
		what      string
	}{
		{c.Listen, "0.0.0.0:9000", "listen: file over default"},
		{c.DataDir, "/from/flag", "data_dir: flag over env over file"},
		{c.Log.Level, "debug", "log.level: file"},
		{c.Log.Format, "json", "log.format: env, last wins"},
		{c.HTTP.ReadTimeout, 90 * time.Second, "http.read_timeout: env over file"},
		{c.HTTP.MaxBodyBytes, int64(2048), "http.max_body_bytes: file"},
		{c.HTTP.WriteTimeout, 60 * time.Second, "http.write_timeout: default kept"},
		{c.Network.AllowInsecure, false, "network.allow_insecure: env false over file true"},
		{c.Providers.Google.TokenURL, "http://env.example/token", "google token_url: env"},
		{c.Providers.Google.Issuer, "https://accounts.google.com", "google issuer: default kept"},
		{c.Providers.ICloud.IMAPPort, 1993, "icloud imap_port: file"},
		{c.Providers.ICloud.SMTPPort, 587, "icloud smtp_port: default kept"},
		{c.Vault.Keyring, "k1:AAAA", "vault.keyring: env"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
		}
	}
}

func TestEnvMapping(t *testing.T) {
	keys := Keys()
	if len(keys) != 88 {
		t.Errorf("%d keys; update this test and docs/configuration.md when adding keys", len(keys))
	}
	want := map[string]string{
		"providers.google.token_url":           "GRANTD_PROVIDERS_GOOGLE_TOKEN_URL",
		"data_dir":                             "GRANTD_DATA_DIR",
		"vault.keyring":                        "GRANTD_VAULT_KEYRING",
		"vault.keyring_file":                   "GRANTD_VAULT_KEYRING_FILE",
		"http.read_header_timeout":             "GRANTD_HTTP_READ_HEADER_TIMEOUT",
		"providers.icloud.imap_port":           "GRANTD_PROVIDERS_ICLOUD_IMAP_PORT",
		"ratelimit.password_checks_per_minute": "GRANTD_RATELIMIT_PASSWORD_CHECKS_PER_MINUTE",
	}
	types := map[string]string{
		"listen": "string", "http.max_body_bytes": "int", "providers.icloud.imap_port": "int",
		"network.allow_insecure": "bool", "vault.reload_interval": "duration",
	}
	seenEnv := map[string]bool{}
	for _, k := range keys {
		if w, ok := want[k.Path]; ok && k.Env != w {
			t.Errorf("%s: env %s, want %s", k.Path, k.Env, w)
		}
		delete(want, k.Path)
		if w, ok := types[k.Path]; ok && k.Type != w {
			t.Errorf("%s: type %s, want %s", k.Path, k.Type, w)
		}
		delete(types, k.Path)
		if k.Env != "GRANTD_"+strings.ToUpper(strings.ReplaceAll(k.Path, ".", "_")) {
			t.Errorf("%s: env %s not derived from the path", k.Path, k.Env)
		}
		if seenEnv[k.Env] {
			t.Errorf("duplicate env %s", k.Env)
		}
		seenEnv[k.Env] = true
		if k.Secret != (k.Path == "database_url" || k.Path == "vault.keyring") {
			t.Errorf("%s: Secret = %v", k.Path, k.Secret)
		}
	}
	if len(want)+len(types) > 0 {
		t.Errorf("keys missing: %v %v", want, types)
	}

	// Every key round-trips through its variable: set each one to a
	// distinct valid value and read it back with Get.
	var env []string
	vals := map[string]string{}
	for i, k := range keys {
		var v string
		switch k.Type {
		case "string":
			v = "v" + k.Path
		case "int":
			v = "1" + string(rune('0'+i%10))
		case "bool":
			v = "true"
		case "duration":
			v = (time.Duration(i+1) * time.Second).String()
		case "list":
			v = "a,b"
		}
		vals[k.Path] = v
		env = append(env, k.Env+"="+v)
	}
	c, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		got, err := c.Get(k.Path)
		if err != nil || got != vals[k.Path] {
			t.Errorf("%s via %s: got %q (%v), want %q", k.Path, k.Env, got, err, vals[k.Path])
		}
	}
	if got := UnknownEnv([]string{"GRANTD_LISTN=x", "GRANTD_CONFIG=/x", "GRANTD_LISTEN=y", "PATH=/bin", "GRANTD_URL=http://x", "GRANTD_API_KEY=k"}); !reflect.DeepEqual(got, []string{"GRANTD_LISTN"}) {
		t.Errorf("UnknownEnv = %v", got)
	}
}

func TestEnvErrors(t *testing.T) {
	cases := []struct {
		env  string
		want []string // substrings of the error
	}{
		{"GRANTD_HTTP_READ_TIMEOUT=10", []string{"GRANTD_HTTP_READ_TIMEOUT", "duration", `"10"`}},
		{"GRANTD_HTTP_READ_TIMEOUT=soon", []string{"GRANTD_HTTP_READ_TIMEOUT", "duration"}},
		{"GRANTD_HTTP_MAX_BODY_BYTES=1MB", []string{"GRANTD_HTTP_MAX_BODY_BYTES", "integer", `"1MB"`}},
		{"GRANTD_PROVIDERS_ICLOUD_IMAP_PORT=99999999999999999999", []string{"GRANTD_PROVIDERS_ICLOUD_IMAP_PORT", "integer"}},
		{"GRANTD_NETWORK_ALLOW_INSECURE=yes", []string{"GRANTD_NETWORK_ALLOW_INSECURE", "true or false", `"yes"`}},
		{"GRANTD_NETWORK_TIMEOUT=", []string{"GRANTD_NETWORK_TIMEOUT", "empty", "duration"}},
	}
	for _, tc := range cases {
		_, err := Load("", []string{tc.env})
		if err == nil {
			t.Errorf("%s: no error", tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.env, err, w)
			}
		}
	}
	// All bad variables are reported at once.
	_, err := Load("", []string{"GRANTD_HTTP_READ_TIMEOUT=x", "GRANTD_LOG_LEVEL=debug", "GRANTD_NETWORK_ALLOW_INSECURE=x"})
	if err == nil || !strings.Contains(err.Error(), "GRANTD_HTTP_READ_TIMEOUT") || !strings.Contains(err.Error(), "GRANTD_NETWORK_ALLOW_INSECURE") {
		t.Errorf("multiple errors: %v", err)
	}
	// An empty string variable is allowed and clears the value.
	c, err := Load(writeFile(t, "database_url: postgres://u:pw@h/db\n"), []string{"GRANTD_DATABASE_URL="})
	if err != nil || c.DatabaseURL != "" {
		t.Errorf("empty GRANTD_DATABASE_URL: %q, %v", c.DatabaseURL, err)
	}
}

func TestFileStrict(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top", "listen: :1\nlisten_addr: x\n", []string{`unknown key "listen_addr"`, "line 2"}},
		{"unknown nested", "log:\n  level: info\n  levle: debug\n", []string{`unknown key "log.levle"`, "line 3"}},
		{"unknown section", "provider:\n  google: {}\n", []string{`unknown key "provider"`}},
		{"unknown provider", "providers:\n  gmail:\n    token_url: x\n", []string{`unknown key "providers.gmail"`}},
		{"duplicate", "listen: :1\nlisten: :2\n", []string{`"listen" appears twice`}},
		{"bad duration", "http:\n  read_timeout: 10\n", []string{"line 2", "http.read_timeout", "duration", `"10"`}},
		{"bad int", "http:\n  max_body_bytes: lots\n", []string{"http.max_body_bytes", "integer"}},
		{"bad bool", "network:\n  allow_insecure: yes\n", []string{"network.allow_insecure", "true or false"}},
		{"section not mapping", "log: debug\n", []string{"log: expected a mapping"}},
		{"value is mapping", "listen:\n  host: x\n", []string{"listen: expected a string, got a mapping"}},
		{"top not mapping", "- a\n- b\n", []string{"top level: expected a mapping"}},
		{"syntax", "log:\n  level: [\n", []string{"yaml"}},
		{"two documents", "listen: :1\n---\nlisten: :2\n", []string{"more than one YAML document"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.yaml)
			_, err := Load(p, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, p) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Error("missing file: no error")
	}
}

func TestFileValues(t *testing.T) {
	p := writeFile(t, `
defaults: &t
  read_timeout: 5s
http: *t
network:
  dns_server: "10.0.0.53:53"
  ca_file: ~
vault:
  keyring_file: "/etc/grantd/keyring.json"
providers:
  icloud:
    imap_port: "143"
`)
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), `unknown key "defaults"`) {
		t.Fatalf("anchor host key: %v", err)
	}
	p = writeFile(t, `
http: &t
  read_timeout: 5s
network:
  dns_server: "10.0.0.53:53"
  ca_file: ~
vault:
  keyring_file: "/etc/grantd/keyring.json"
  keyring:
providers:
  icloud:
    imap_port: "143"
  ews: {}
`)
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.ReadTimeout != 5*time.Second || c.Network.DNSServer != "10.0.0.53:53" || c.Network.CAFile != "" ||
		c.Vault.KeyringFile != "/etc/grantd/keyring.json" || c.Providers.ICloud.IMAPPort != 143 {
		t.Errorf("got %+v", c)
	}
	// Empty file and comment-only file leave the defaults.
	for _, content := range []string{"", "# nothing\n", "---\n"} {
		c, err := Load(writeFile(t, content), nil)
		if err != nil || !reflect.DeepEqual(c, Default()) {
			t.Errorf("file %q: %v", content, err)
		}
	}
}

func TestSetGet(t *testing.T) {
	c := Default()
	for _, kv := range [][2]string{
		{"listen", ":9999"},
		{"http.idle_timeout", "3m"},
		{"providers.icloud.smtp_port", "465"},
		{"network.allow_insecure", "true"},
		{"database_url", "postgres://localhost/grantd"},
	} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if c.Listen != ":9999" || c.HTTP.IdleTimeout != 3*time.Minute || c.Providers.ICloud.SMTPPort != 465 ||
		!c.Network.AllowInsecure || c.DatabaseURL != "postgres://localhost/grantd" {
		t.Errorf("after Set: %+v", c)
	}
	if got, _ := c.Get("http.idle_timeout"); got != "3m0s" {
		t.Errorf("Get = %q", got)
	}
	if err := c.Set("nope", "x"); err == nil || !strings.Contains(err.Error(), `unknown key "nope"`) {
		t.Errorf("unknown key: %v", err)
	}
	if err := c.Set("http", "x"); err == nil {
		t.Error("Set of a section succeeded")
	}
	if err := c.Set("http.idle_timeout", "forever"); err == nil || !strings.Contains(err.Error(), "http.idle_timeout") {
		t.Errorf("bad duration: %v", err)
	}
	if c.HTTP.IdleTimeout != 3*time.Minute {
		t.Error("failed Set changed the value")
	}
	if _, err := c.Get("nope"); err == nil {
		t.Error("Get of unknown key succeeded")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		key, value string
		wantErr    string // "" means valid
	}{
		{"listen", ":8080", ""},
		{"listen", "[::1]:0", ""},
		{"listen", "localhost", "listen"},
		{"listen", "localhost:http", "listen"},
		{"listen", "localhost:70000", "listen"},
		{"log.level", "WARN", ""},
		{"log.level", "verbose", "log.level"},
		{"log.format", "xml", "log.format"},
		{"http.max_body_bytes", "0", "http.max_body_bytes"},
		{"http.read_timeout", "0s", "http.read_timeout"},
		{"http.shutdown_timeout", "-1s", "http.shutdown_timeout"},
		{"http.pprof_listen", "127.0.0.1:6060", ""},
		{"http.pprof_listen", "[::1]:0", ""},
		{"http.pprof_listen", "localhost:6060", ""},
		{"http.pprof_listen", ":6060", "http.pprof_listen"},
		{"http.pprof_listen", "0.0.0.0:6060", "http.pprof_listen"},
		{"http.pprof_listen", "10.0.0.1:6060", "http.pprof_listen"},
		{"network.timeout", "0s", "network.timeout"},
		{"vault.reload_interval", "0s", "vault.reload_interval"},
		{"network.dns_server", "10.0.0.53", "network.dns_server"},
		{"network.dns_server", "10.0.0.53:53", ""},
		{"providers.google.token_url", "/token", "providers.google.token_url"},
		{"providers.google.token_url", "ftp://x/token", "providers.google.token_url"},
		{"providers.google.token_url", "", "providers.google.token_url"},
		{"providers.google.token_url", "http://127.0.0.1:9000/token", ""},
		{"providers.google.issuer", "accounts.google.com", "providers.google.issuer"},
		{"providers.microsoft.graph_url", "https:///v1.0", "providers.microsoft.graph_url"},
		{"providers.ews.autodiscover_url", "", ""},
		{"providers.ews.autodiscover_url", "not a url", "providers.ews.autodiscover_url"},
		{"providers.icloud.imap_port", "0", "providers.icloud.imap_port"},
		{"providers.icloud.smtp_host", "", "providers.icloud.smtp_host"},
		{"database_url", "postgres://u:hunter2@db/grantd", ""},
		{"database_url", "mysql://u:hunter2@db/grantd", "database_url"},
		{"data_dir", "", "data_dir"},
		{"ratelimit.requests_per_second", "0", ""},
		{"ratelimit.requests_per_second", "-1", "ratelimit.requests_per_second"},
		{"ratelimit.burst", "0", "ratelimit.burst"},
		{"ratelimit.detect_requests_per_second", "-5", "ratelimit.detect_requests_per_second"},
		{"ratelimit.detect_burst", "0", "ratelimit.detect_burst"},
		{"network.allowed_cidrs", "10.20.0.0/16, fd00:1::/64,192.168.1.7", ""},
		{"network.allowed_cidrs", "10.20.0.0/33", "network.allowed_cidrs"},
		{"http.trusted_proxies", "10.0.0.0/8, 192.168.1.7,fd00::/8", ""},
		{"http.trusted_proxies", "10.0.0.0/33", "http.trusted_proxies"},
		{"http.trusted_proxies", "proxy.internal", "http.trusted_proxies"},
		{"network.allowed_cidrs", "mail.internal", "network.allowed_cidrs"},
		{"store.timeout", "0s", "store.timeout"},
		{"refresh.lease", "999ms", "refresh.lease: must be at least 1s, got 999ms"},
		{"refresh.lease", "1s", ""},
		{"refresh.lease", "0s", "refresh.lease"},
	}
	for _, tc := range cases {
		c := Default()
		if err := c.Set(tc.key, tc.value); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s=%q: unexpected error %v", tc.key, tc.value, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s=%q: no error", tc.key, tc.value)
		case err != nil && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s=%q: error %q does not name %s", tc.key, tc.value, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%s: error leaks the password: %v", tc.key, err)
		}
	}
	// data_dir may be empty with PostgreSQL and an explicit keyring.
	c := Default()
	c.DataDir, c.DatabaseURL, c.Vault.Keyring = "", "postgres://db/grantd", "k1:x"
	if err := c.Validate(); err != nil {
		t.Errorf("postgres without data_dir: %v", err)
	}
	// Several problems are all reported.
	c = Default()
	c.Log.Level, c.Network.Timeout = "loud", 0
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), "network.timeout") {
		t.Errorf("multiple problems: %v", err)
	}
}

// TestDocsListEveryKey fails when docs/configuration.md misses a key, its
// variable, type or default, or documents a key that does not exist.
func TestDocsListEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	rows := map[string][]string{}
	rowRE := regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\|(.*)$")
	for _, m := range rowRE.FindAllStringSubmatch(doc, -1) {
		cells := strings.Split(m[2], "|")
		if len(cells) >= 4 { // the key table; the small tables have fewer cells
			rows[m[1]] = cells
		}
	}
	def := Default()
	for _, k := range Keys() {
		if !strings.Contains(doc, "`"+k.Env+"`") {
			t.Errorf("docs/configuration.md does not mention `%s`", k.Env)
		}
		cells, ok := rows[k.Path]
		if !ok {
			t.Errorf("docs/configuration.md has no table row for `%s`", k.Path)
			continue
		}
		if got := strings.TrimSpace(cells[0]); got != "`"+k.Env+"`" {
			t.Errorf("%s: documented variable %s, want `%s`", k.Path, got, k.Env)
		}
		if got := strings.TrimSpace(cells[1]); got != k.Type {
			t.Errorf("%s: documented type %q, want %q", k.Path, got, k.Type)
		}
		v, _ := def.Get(k.Path)
		want := "`" + v + "`"
		if v == "" {
			want = "*(empty)*"
		}
		if got := strings.TrimSpace(cells[2]); got != want {
			t.Errorf("%s: documented default %s, want %s", k.Path, got, want)
		}
		if strings.TrimSpace(cells[3]) == "" {
			t.Errorf("%s: no description", k.Path)
		}
		delete(rows, k.Path)
	}
	for path := range rows {
		t.Errorf("docs/configuration.md documents unknown key `%s`", path)
	}
	for _, s := range []string{"GRANTD_CONFIG", "--config", "--data-dir", "--listen", "--database-url"} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/configuration.md does not mention %s", s)
		}
	}
}
