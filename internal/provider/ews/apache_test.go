package ews_test

import (
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/netx"
	"github.com/grantd/grantd/internal/testenv"

	"github.com/grantd/grantd/internal/provider"
	"github.com/grantd/grantd/internal/provider/ews"
)

// TestApacheInterop checks the validator against a real, independent NTLM
// implementation: Apache with mod_auth_gssapi and gss-ntlmssp (NTLMv2
// verified by gss-ntlmssp from a user file), plus Basic on a second port,
// set up by scripts/ews-apache-start.sh. It is skipped, saying so, where
// those packages are not installed.
func TestApacheInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Apache EWS interop test is SKIPPED")
	}
	apache, err := exec.LookPath("apache2")
	if err != nil {
		testenv.Skip(t, "apache2 is not installed: the Apache NTLM interop test is SKIPPED (apt-get install apache2 libapache2-mod-auth-gssapi gss-ntlmssp)")
	}
	need := []string{"/usr/lib/apache2/modules/mod_auth_gssapi.so"}
	if m, _ := filepath.Glob("/usr/lib/*/gssntlmssp/gssntlmssp.so"); len(m) == 0 {
		testenv.Skip(t, "gss-ntlmssp is not installed: the Apache NTLM interop test is SKIPPED (apt-get install gss-ntlmssp)")
	}
	for _, f := range need {
		if _, err := os.Stat(f); err != nil {
			testenv.Skip(t, "%s is missing: the Apache NTLM interop test is SKIPPED (apt-get install libapache2-mod-auth-gssapi)", f)
		}
	}
	for _, tool := range []string{"openssl", "htpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s is not installed: the Apache NTLM interop test is SKIPPED", tool)
		}
	}

	dir, err := os.MkdirTemp("", "grantd-ews-apache-") // not t.TempDir: Apache's children (nobody) must read it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ntlmPort, basicPort := freePort(t), freePort(t)
	const password = "Apache-PW-canary-41d2"
	script, err := filepath.Abs("../../../scripts/ews-apache-start.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script, dir)
	cmd.Env = append(os.Environ(), "EWS_NTLM_PORT="+strconv.Itoa(ntlmPort), "EWS_BASIC_PORT="+strconv.Itoa(basicPort), "EWS_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ews-apache-start.sh: %v\n%s", err, out)
	}
	httpd := exec.Command(apache, "-f", filepath.Join(dir, "httpd.conf"), "-DFOREGROUND")
	httpd.Env = append(os.Environ(), "NTLM_USER_FILE="+filepath.Join(dir, "users.ntlm"))
	// Its own process group: on SIGTERM Apache signals its whole group,
	// which would otherwise include this test.
	httpd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(dir, "logs", "stderr.log")) // a file, not a pipe its children would hold open
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	httpd.Stdout, httpd.Stderr = out, out
	if err := httpd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { httpd.Wait(); close(exited) }()
	t.Cleanup(func() {
		httpd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			httpd.Process.Kill()
			<-exited
		}
	})
	for _, p := range []int{ntlmPort, basicPort} {
		waitTLS(t, p, exited, dir)
	}

	v := ews.New(netx.Config{AllowPrivateHosts: true, CAFile: filepath.Join(dir, "cert.pem"), Timeout: 5 * time.Second}, nil)
	check := func(port int, user, pw string) (provider.Result, error) {
		return validate(v, map[string]any{"email": "alice@contoso.test", "ews_username": user, "ews_password": pw, "ews_host": "127.0.0.1", "ews_port": port})
	}
	for _, tc := range []struct {
		name string
		port int
		user string
	}{
		{"ntlm", ntlmPort, `CONTOSO\alice`},
		{"basic", basicPort, "alice"},
		{"basic-upn", basicPort, "alice@contoso.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := check(tc.port, tc.user, password)
			if err != nil {
				t.Fatalf("%v\napache log:\n%s", err, readLog(dir))
			}
			if res.Email != "alice@contoso.test" || res.Name == "" {
				t.Errorf("identity %q %q", res.Email, res.Name)
			}
			// Wrong password right after a good one: a fresh connection per
			// check, or Apache's connection-bound NTLM would let it through.
			_, err = check(tc.port, tc.user, password+"-wrong")
			pe := expectClass(t, err, provider.ClassInvalidCredentials, password)
			if want := strings.TrimSuffix(tc.name, "-upn"); pe.ProviderError["auth_method"] != want {
				t.Errorf("auth_method %v, want %s", pe.ProviderError["auth_method"], want)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitTLS(t *testing.T, port int, exited <-chan struct{}, dir string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("apache2 exited early\n%s", readLog(dir))
		default:
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache2 not ready on %d: %v\n%s", port, err, readLog(dir))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readLog(dir string) string {
	a, _ := os.ReadFile(filepath.Join(dir, "logs", "stderr.log"))
	b, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
	return string(a) + string(b)
}
