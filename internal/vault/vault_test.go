package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func b64(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, KeySize)) }

func testInline() string { return "k2:" + b64(2) + ",k1:" + b64(1) }

func newFileVault(t *testing.T) (*Vault, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "keyring.json")
	v, created, err := NewFromFile(path, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("created = false for a new file")
	}
	return v, path
}

func TestRoundTrip(t *testing.T) {
	v, err := NewFromInline(testInline())
	if err != nil {
		t.Fatal(err)
	}
	if got := v.PrimaryKeyID(); got != "k2" {
		t.Fatalf("PrimaryKeyID = %q, want k2", got)
	}
	for _, pt := range [][]byte{nil, {}, []byte("x"), []byte("refresh-token-secret"), bytes.Repeat([]byte("a"), 100000)} {
		aad := []byte("grant/123/refresh_token")
		blob, err := v.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if want := fixedSize + len("k2") + len(pt); len(blob) != want {
			t.Errorf("len(blob) = %d, want %d", len(blob), want)
		}
		if len(pt) > 4 && bytes.Contains(blob, pt) {
			t.Error("blob contains the plaintext")
		}
		got, err := v.Open(blob, aad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
		id, err := v.KeyIDOf(blob)
		if err != nil || id != "k2" {
			t.Fatalf("KeyIDOf = %q, %v; want k2", id, err)
		}
	}
	// Two seals of the same plaintext differ (fresh DEK and nonces).
	a, _ := v.Seal([]byte("same"), nil)
	b, _ := v.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two seals are identical")
	}
}

func TestAADMismatch(t *testing.T) {
	v, _ := NewFromInline(testInline())
	blob, _ := v.Seal([]byte("secret"), []byte("grant/1"))
	for _, aad := range [][]byte{nil, []byte("grant/2"), []byte("grant/1 "), []byte("grant/")} {
		if _, err := v.Open(blob, aad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open with aad %q: err = %v, want ErrDecrypt", aad, err)
		}
	}
}

func TestTamperEveryByte(t *testing.T) {
	v, _ := NewFromInline(testInline())
	aad := []byte("aad")
	blob, _ := v.Seal([]byte("a secret value"), aad)
	for i := range blob {
		for _, flip := range []byte{0x01, 0x80} {
			tb := bytes.Clone(blob)
			tb[i] ^= flip
			_, err := v.Open(tb, aad)
			if err == nil {
				t.Fatalf("byte %d ^ %#x: Open succeeded", i, flip)
			}
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("byte %d: unexpected error %v", i, err)
			}
			if i >= 2+len("k2") && !errors.Is(err, ErrDecrypt) {
				t.Errorf("byte %d (past the header): err = %v, want ErrDecrypt", i, err)
			}
			if _, _, err := v.Rewrap(tb); err == nil && i < 62+len("k2") {
				t.Errorf("byte %d: Rewrap accepted a tampered key envelope", i)
			}
		}
	}
	// Truncation and extension.
	for _, tb := range [][]byte{blob[:len(blob)-1], append(bytes.Clone(blob), 0), blob[:fixedSize+1], blob[:1], nil} {
		if _, err := v.Open(tb, aad); err == nil {
			t.Errorf("Open of a %d-byte blob succeeded", len(tb))
		}
	}
}

func TestDistinctErrors(t *testing.T) {
	v, _ := NewFromInline(testInline())
	blob, _ := v.Seal([]byte("s"), nil)

	if _, err := v.Open([]byte("not a blob at all"), nil); !errors.Is(err, ErrFormat) {
		t.Errorf("garbage: %v, want ErrFormat", err)
	}
	bad := bytes.Clone(blob)
	bad[0] = 2
	if _, err := v.Open(bad, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("version 2: %v, want ErrFormat", err)
	}
	// Same layout, key ID "k9" that the keyring does not hold.
	unk := bytes.Clone(blob)
	copy(unk[2:], "k9")
	if _, err := v.Open(unk, nil); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"k9"`) {
		t.Errorf("unknown key: %v, want ErrUnknownKey naming k9", err)
	}
	// Key ID swapped to k1 (known): the wrap AAD binds the ID.
	swp := bytes.Clone(blob)
	copy(swp[2:], "k1")
	if _, err := v.Open(swp, nil); !errors.Is(err, ErrDecrypt) {
		t.Errorf("swapped key id: %v, want ErrDecrypt", err)
	}
	// The wrap AAD binds the key ID: even under the same key material a
	// blob does not open once its key ID is changed.
	same, err := NewFromInline("k2:" + b64(5) + ",k1:" + b64(5))
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := same.Seal([]byte("s"), nil)
	copy(sb[2:], "k1")
	if _, err := same.Open(sb, nil); !errors.Is(err, ErrDecrypt) {
		t.Errorf("key id changed, same key material: %v, want ErrDecrypt", err)
	}
	for _, err := range []error{ErrUnknownKey, ErrDecrypt, ErrFormat} {
		for _, other := range []error{ErrUnknownKey, ErrDecrypt, ErrFormat} {
			if err != other && errors.Is(err, other) {
				t.Errorf("%v is %v", err, other)
			}
		}
	}
}

func TestRotation(t *testing.T) {
	v, path := newFileVault(t)
	k1 := v.PrimaryKeyID()
	aad := []byte("grant/1")
	old, err := v.Seal([]byte("old secret"), aad)
	if err != nil {
		t.Fatal(err)
	}

	k2, err := AddKeyToFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k2 == k1 {
		t.Fatal("AddKeyToFile reused the key id")
	}
	if v.PrimaryKeyID() != k1 {
		t.Fatal("primary changed before Reload")
	}
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if v.PrimaryKeyID() != k2 {
		t.Fatalf("after Reload primary = %q, want %q", v.PrimaryKeyID(), k2)
	}
	kr, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ks := kr.Keys(); len(ks) != 2 || ks[0].ID != k1 || ks[1].ID != k2 || ks[0].Primary || !ks[1].Primary || ks[1].CreatedAt.IsZero() {
		t.Fatalf("file keys = %+v", ks)
	}

	fresh, _ := v.Seal([]byte("new secret"), aad)
	if id, _ := KeyIDOf(fresh); id != k2 {
		t.Errorf("new blob under %q, want %q", id, k2)
	}
	if pt, err := v.Open(old, aad); err != nil || string(pt) != "old secret" {
		t.Fatalf("old blob: %q, %v", pt, err)
	}

	moved, changed, err := v.Rewrap(old)
	if err != nil || !changed {
		t.Fatalf("Rewrap: changed=%v err=%v", changed, err)
	}
	if id, _ := KeyIDOf(moved); id != k2 {
		t.Errorf("rewrapped blob under %q, want %q", id, k2)
	}
	// The data part (nonce + ciphertext) is untouched.
	if !bytes.HasSuffix(moved, old[62+len(k1):]) {
		t.Error("Rewrap changed the data ciphertext")
	}
	if pt, err := v.Open(moved, aad); err != nil || string(pt) != "old secret" {
		t.Fatalf("rewrapped blob: %q, %v", pt, err)
	}
	if _, err := v.Open(moved, []byte("other")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("rewrapped blob with other aad: %v", err)
	}
	again, changed, err := v.Rewrap(moved)
	if err != nil || changed || !bytes.Equal(again, moved) {
		t.Fatalf("Rewrap of current blob: changed=%v err=%v", changed, err)
	}

	// A vault that only knows the new keyring (old key dropped) cannot open
	// the old blob but opens the rewrapped one.
	nk, _ := LoadFile(path)
	only := strings.Split(nk.MarshalInline(), ",")[0]
	v2, err := NewFromInline(only)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Open(old, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old blob without old key: %v", err)
	}
	if _, err := v2.Open(moved, aad); err != nil {
		t.Errorf("rewrapped blob without old key: %v", err)
	}
}

func TestUnknownKeyTriggersReload(t *testing.T) {
	server, path := newFileVault(t)
	// Another process rotates and seals with the new key.
	if _, err := AddKeyToFile(path); err != nil {
		t.Fatal(err)
	}
	other, created, err := NewFromFile(path)
	if err != nil || created {
		t.Fatalf("second NewFromFile: created=%v err=%v", created, err)
	}
	blob, _ := other.Seal([]byte("from the other process"), nil)
	if server.Keyring().Has(other.PrimaryKeyID()) {
		t.Fatal("server already knows the new key")
	}
	pt, err := server.Open(blob, nil)
	if err != nil || string(pt) != "from the other process" {
		t.Fatalf("Open: %q, %v", pt, err)
	}
	if server.PrimaryKeyID() != other.PrimaryKeyID() {
		t.Error("server did not adopt the new primary")
	}

	// Rewrap also reloads.
	server2, path2 := newFileVault(t)
	old, _ := server2.Seal([]byte("x"), nil)
	if _, err := AddKeyToFile(path2); err != nil {
		t.Fatal(err)
	}
	other2, _, _ := NewFromFile(path2)
	blob2, _ := other2.Seal([]byte("y"), nil)
	if _, changed, err := server2.Rewrap(blob2); err != nil || changed {
		t.Fatalf("Rewrap of blob under unknown (now primary) key: changed=%v err=%v", changed, err)
	}
	if _, changed, err := server2.Rewrap(old); err != nil || !changed {
		t.Fatalf("Rewrap of old blob: changed=%v err=%v", changed, err)
	}

	// A really unknown key: one reload, then ErrUnknownKey; a second miss
	// within the cooldown does not re-read the file.
	bad := bytes.Clone(blob)
	copy(bad[2:], strings.Repeat("z", len(other.PrimaryKeyID())))
	os.Chmod(path, 0o644) // any reload now fails
	t.Cleanup(func() { os.Chmod(path, 0o600) })
	server.lastMiss = time.Time{}
	_, err = server.Open(bad, nil)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if runtime.GOOS != "windows" && !strings.Contains(err.Error(), "reload failed") {
		t.Errorf("first miss did not reload: %v", err)
	}
	_, err = server.Open(bad, nil)
	if !errors.Is(err, ErrUnknownKey) || strings.Contains(err.Error(), "reload failed") {
		t.Errorf("second miss within cooldown: %v", err)
	}
	// The current keyring was kept.
	if _, err := server.Open(blob, nil); err != nil {
		t.Errorf("after failed reload: %v", err)
	}
}

func TestFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "keyring.json")
	kr, created, err := LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
	if _, err := AddKeyToFile(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("after rotate: file mode %v, want 0600", fi.Mode().Perm())
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("leftover %s", e.Name())
		}
	}

	kr2, created, err := LoadOrCreateFile(path)
	if err != nil || created {
		t.Fatalf("reload: created=%v err=%v", created, err)
	}
	if kr2.Keys()[0].ID != kr.PrimaryID() || len(kr2.Keys()) != 2 {
		t.Errorf("reloaded keyring %v, first key %v", kr2, kr)
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		os.Chmod(path, mode)
		_, _, err := LoadOrCreateFile(path)
		if !errors.Is(err, ErrInsecurePermissions) {
			t.Errorf("mode %v: err = %v, want ErrInsecurePermissions", mode, err)
		}
		if _, err := AddKeyToFile(path); !errors.Is(err, ErrInsecurePermissions) {
			t.Errorf("rotate with mode %v: err = %v", mode, err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := LoadFile(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	secret := b64(7)
	cases := map[string]string{
		"syntax":       `{"primary":"k1","keys":[{"id":"k1","key":"` + secret + `"}`,
		"unknownfield": `{"primary":"k1","keys":[{"id":"k1","key":"` + secret + `","` + secret + `":1}]}`,
		"noprimary":    `{"primary":"k9","keys":[{"id":"k1","key":"` + secret + `"}]}`,
		"nokeys":       `{"primary":"k1","keys":[]}`,
		"shortkey":     `{"primary":"k1","keys":[{"id":"k1","key":"` + secret[:20] + `"}]}`,
		"dup":          `{"primary":"k1","keys":[{"id":"k1","key":"` + secret + `"},{"id":"k1","key":"` + b64(8) + `"}]}`,
		"badid":        `{"primary":"k1","keys":[{"id":"` + secret + `","key":"` + secret + `"}]}`,
		"notbase64":    `{"primary":"k1","keys":[{"id":"k1","key":"` + secret[:40] + `!!!"}]}`,
		"empty":        ``,
		"trailing":     `{"primary":"k1","keys":[{"id":"k1","key":"` + secret + `"}]} {}`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".json")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(p)
			if !errors.Is(err, ErrInvalidKeyring) {
				t.Fatalf("err = %v, want ErrInvalidKeyring", err)
			}
			if strings.Contains(err.Error(), secret[:16]) {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := AddKeyToFile(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rotate missing file: %v", err)
	}
}

func TestParseInline(t *testing.T) {
	kr, err := ParseInline(" k2 : " + b64(2) + " , k1:" + strings.TrimRight(b64(1), "="))
	if err != nil {
		t.Fatal(err)
	}
	if kr.PrimaryID() != "k2" || !kr.Has("k1") || len(kr.Keys()) != 2 {
		t.Fatalf("keyring %v", kr)
	}
	kr2, err := ParseInline(kr.MarshalInline())
	if err != nil || kr2.MarshalInline() != kr.MarshalInline() {
		t.Fatalf("MarshalInline round trip: %v", err)
	}
	secret := b64(9)
	for _, s := range []string{
		"", "k1", secret, ":" + secret, "k1:", "k1:" + secret[:10], "k 1:" + secret,
		"k1:" + secret + ",k1:" + secret, "k1:" + secret + ",", "k1:" + secret[:43] + "!",
		"k1:" + b64(0), strings.Repeat("k", 65) + ":" + secret,
		secret + ":" + secret,
	} {
		_, err := ParseInline(s)
		if !errors.Is(err, ErrInvalidKeyring) {
			t.Errorf("ParseInline(%q) err = %v, want ErrInvalidKeyring", s, err)
			continue
		}
		if strings.Contains(err.Error(), secret[:12]) {
			t.Errorf("ParseInline(%q) error leaks key material: %v", s, err)
		}
	}
}

func TestNoKeyMaterialInFormatting(t *testing.T) {
	kr, _ := ParseInline(testInline())
	v := NewFromKeyring(kr)
	needle := b64(2)[:12]
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "kr", kr, "v", v)
	for _, s := range []string{
		fmt.Sprint(kr), fmt.Sprintf("%v %+v %#v %s %x", kr, kr, kr, kr, kr), sb.String(),
	} {
		if strings.Contains(s, needle) || strings.Contains(s, "\x02\x02\x02") || strings.Contains(s, "0202020202") {
			t.Errorf("formatted keyring leaks key: %q", s)
		}
	}
	if !strings.Contains(fmt.Sprint(kr), "k2(primary)") {
		t.Errorf("String = %q", kr)
	}
}

func TestSealJSON(t *testing.T) {
	v, _ := NewFromInline(testInline())
	type creds struct {
		RefreshToken string `json:"refresh_token"`
		N            int    `json:"n"`
	}
	blob, err := v.SealJSON(creds{"rt-secret", 3}, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	var got creds
	if err := v.OpenJSON(blob, []byte("a"), &got); err != nil || got != (creds{"rt-secret", 3}) {
		t.Fatalf("OpenJSON = %+v, %v", got, err)
	}
	if err := v.OpenJSON(blob, []byte("b"), &got); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong aad: %v", err)
	}
	var wrong struct {
		RefreshToken int `json:"refresh_token"`
	}
	if err := v.OpenJSON(blob, []byte("a"), &wrong); err == nil || strings.Contains(err.Error(), "rt-secret") {
		t.Errorf("type mismatch: %v", err)
	}
	notJSON, _ := v.Seal([]byte("rt-secret{"), nil)
	if err := v.OpenJSON(notJSON, nil, &got); err == nil || strings.Contains(err.Error(), "rt-secret") {
		t.Errorf("invalid JSON: %v", err)
	}
	if _, err := v.SealJSON(make(chan int), nil); err == nil {
		t.Error("SealJSON(chan) succeeded")
	}
}

func TestWatch(t *testing.T) {
	v, path := newFileVault(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { v.Watch(ctx, 5*time.Millisecond); close(done) }()
	id, err := AddKeyToFile(path)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for v.PrimaryKeyID() != id {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up the new key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A broken file is logged and the keyring kept.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if v.PrimaryKeyID() != id {
		t.Error("broken file replaced the keyring")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	// Static vaults return at once.
	s, _ := NewFromInline(testInline())
	s.Watch(t.Context(), time.Millisecond)
	if err := s.Reload(); err != nil {
		t.Error(err)
	}
}

func TestConcurrentCreateAndRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	var wg sync.WaitGroup
	krs := make([]*Keyring, 8)
	for i := range krs {
		wg.Go(func() {
			kr, _, err := LoadOrCreateFile(path)
			if err != nil {
				t.Error(err)
			}
			krs[i] = kr
		})
	}
	wg.Wait()
	for _, kr := range krs[1:] {
		if kr.PrimaryID() != krs[0].PrimaryID() {
			t.Fatalf("concurrent creation produced different keyrings: %v vs %v", kr, krs[0])
		}
	}
	ids := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			id, err := AddKeyToFile(path)
			if err != nil {
				t.Error(err)
			}
			ids <- id
		})
	}
	wg.Wait()
	close(ids)
	kr, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for id := range ids {
		if !kr.Has(id) {
			t.Errorf("rotation lost key %q", id)
		}
	}
	if len(kr.Keys()) != 9 {
		t.Errorf("%d keys, want 9", len(kr.Keys()))
	}
}

func TestConcurrentSealOpenReload(t *testing.T) {
	v, path := newFileVault(t)
	v.missCooldown = 0
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 5 && ctx.Err() == nil; i++ {
			if _, err := AddKeyToFile(path); err != nil {
				t.Error(err)
				return
			}
			if err := v.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() { v.Watch(ctx, time.Millisecond) })
	var workers sync.WaitGroup
	for w := range 4 {
		workers.Go(func() {
			var blobs [][]byte
			for i := range 300 {
				pt := fmt.Appendf(nil, "secret-%d-%d", w, i)
				aad := fmt.Appendf(nil, "aad-%d", i)
				b, err := v.Seal(pt, aad)
				if err != nil {
					t.Error(err)
					return
				}
				blobs = append(blobs, b)
				got, err := v.Open(blobs[i/2], fmt.Appendf(nil, "aad-%d", i/2))
				if err != nil || !bytes.Equal(got, fmt.Appendf(nil, "secret-%d-%d", w, i/2)) {
					t.Errorf("Open: %q, %v", got, err)
					return
				}
				if _, _, err := v.Rewrap(b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	workers.Wait()
	cancel()
	wg.Wait()
}

func BenchmarkSeal200(b *testing.B) {
	v, _ := NewFromInline(testInline())
	pt := bytes.Repeat([]byte("s"), 200)
	aad := []byte("grant/0123456789/refresh_token")
	b.ReportAllocs()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := v.Seal(pt, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen200(b *testing.B) {
	v, _ := NewFromInline(testInline())
	pt := bytes.Repeat([]byte("s"), 200)
	aad := []byte("grant/0123456789/refresh_token")
	blob, _ := v.Seal(pt, aad)
	b.ReportAllocs()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := v.Open(blob, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen200Parallel(b *testing.B) {
	v, _ := NewFromInline(testInline())
	pt := bytes.Repeat([]byte("s"), 200)
	blob, _ := v.Seal(pt, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Open(blob, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A keyring whose id and key were swapped by mistake is refused without
// repeating the key.
func TestSwappedKeyringEntryNotEchoed(t *testing.T) {
	const key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU"
	_, err := ParseInline(key + ":k1")
	if err == nil {
		t.Fatal("accepted")
	}
	if strings.Contains(err.Error(), key) {
		t.Errorf("the error repeats the key: %v", err)
	}
}
