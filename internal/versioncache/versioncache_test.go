package versioncache

import (
	"strconv"
	"testing"
	"time"
)

func TestVersionAndExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	var c Cache[string]
	c.now = func() time.Time { return now }
	c.Put("k", 3, "v3")
	if v, ok := c.Get("k", 3); !ok || v != "v3" {
		t.Fatalf("Get under its version: %q %v", v, ok)
	}
	if _, ok := c.Get("k", 4); ok {
		t.Fatal("an entry read under version 3 was used at version 4")
	}
	if v, ver, ok := c.Peek("k"); !ok || v != "v3" || ver != 3 {
		t.Fatalf("Peek: %q %d %v", v, ver, ok)
	}
	now = now.Add(TTL - time.Nanosecond)
	if _, ok := c.Get("k", 3); !ok {
		t.Fatal("expired before its time to live")
	}
	now = now.Add(time.Nanosecond)
	if _, ok := c.Get("k", 3); ok {
		t.Fatal("used after its time to live")
	}
	if _, _, ok := c.Peek("k"); ok {
		t.Fatal("Peek returned an expired entry")
	}
}

func TestDelete(t *testing.T) {
	var c Cache[int]
	for i := range 10 {
		c.Put("app"+strconv.Itoa(i%2)+"/"+strconv.Itoa(i), 1, i)
	}
	c.Put("app0/0", 1, 100) // a replacement is not a new entry
	if c.size() != 10 {
		t.Fatalf("Len %d, want 10", c.size())
	}
	c.DeleteFunc(func(k string) bool { return k[:4] == "app1" })
	if c.size() != 5 {
		t.Fatalf("Len %d after deleting app1's, want 5", c.size())
	}
	if _, ok := c.Get("app1/1", 1); ok {
		t.Fatal("a deleted entry was found")
	}
	if v, ok := c.Get("app0/0", 1); !ok || v != 100 {
		t.Fatalf("kept entry: %d %v", v, ok)
	}
	c.Delete("app0/0")
	c.Delete("app0/0") // twice: counted once
	if c.size() != 4 {
		t.Fatalf("Len %d, want 4", c.size())
	}
}

func TestBounded(t *testing.T) {
	var c Cache[int]
	for i := range Max + 10 {
		c.Put(strconv.Itoa(i), 1, i)
	}
	if n := c.size(); n > Max || n < 1 {
		t.Fatalf("Len %d, want 1..%d", n, Max)
	}
	if v, ok := c.Get(strconv.Itoa(Max+9), 1); !ok || v != Max+9 {
		t.Fatal("the newest entry is not kept")
	}
}
