package detect

import (
	"context"
	"testing"
)

var benchEmails = []string{
	"alice@gmail.com", "bob@outlook.com", "carol@yahoo.co.uk", "dan@icloud.com", "erin@aol.com",
	"frank@fastmail.com", "grace@gmx.de", "heidi@yandex.ru", "ivan@mail.ru", "judy@proton.me",
}

// BenchmarkDetectKnownDomain is a detection answered from the table:
// parse, IDNA, suffix lookup, candidate choice. No network.
func BenchmarkDetectKnownDomain(b *testing.B) {
	d := New(Options{Resolver: failResolver{}})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r, err := d.Detect(ctx, benchEmails[i%len(benchEmails)], nil, true)
		if err != nil || r.Match == "" {
			b.Fatal(r, err)
		}
		i++
	}
}

func BenchmarkDetectKnownDomainParallel(b *testing.B) {
	d := New(Options{Resolver: failResolver{}})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r, err := d.Detect(ctx, benchEmails[i%len(benchEmails)], nil, true)
			if err != nil || r.Match == "" {
				b.Fatal(r, err)
			}
			i++
		}
	})
}

// BenchmarkDetectCachedCustomDomain is a Google Workspace custom domain
// found once by MX, then answered from the cache: the DNS server must see
// no query during the timed loop.
func BenchmarkDetectCachedCustomDomain(b *testing.B) {
	srv := newTestDNS(b)
	srv.Add(b, "workspace.test. 3600 IN MX 1 aspmx.l.google.com.")
	d := newTestDetector(b, srv, Options{})
	ctx := context.Background()
	if r, err := d.Detect(ctx, "warm@workspace.test", nil, true); err != nil || r.DetectedBy != ByMX {
		b.Fatal(r, err)
	}
	before := srv.Total()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := d.Detect(ctx, "someone@workspace.test", nil, true)
			if err != nil || r.Provider != "google" {
				b.Fatal(r, err)
			}
		}
	})
	b.StopTimer()
	if q := srv.Total() - before; q != 0 {
		b.Fatalf("%d DNS queries during the timed loop; a cached domain must need none", q)
	}
}
