package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// The outbox (events written with grant changes).

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := grant(app, "ev@example.com")
	e1 := store.Event{ID: newID("evt"), Type: "grant.created", Payload: []byte(`{"b":1,  "a":[true]}`), CreatedAt: t0}
	must(t, "CreateGrant", s.CreateGrant(ctx, g, e1))
	e2 := store.Event{ID: newID("evt"), Type: "grant.updated", CreatedAt: t0.Add(time.Second)}
	e3 := store.Event{ID: newID("evt"), AppID: app, GrantID: g.ID, Type: "grant.expired", Payload: []byte(`{}`), CreatedAt: t0.Add(time.Second)}
	_, err := s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Status = store.GrantInvalid
		return old, []store.Event{e2, e3}, nil
	})
	must(t, "UpdateGrant", err)
	_, err = s.UpdateGrant(ctx, app, g.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		return old, nil, nil // no events
	})
	must(t, "UpdateGrant without events", err)
	e4 := store.Event{ID: newID("evt"), Type: "grant.deleted", CreatedAt: t0.Add(2 * time.Second)}
	must(t, "DeleteGrant", s.DeleteGrant(ctx, app, g.ID, e4))

	evs, err := s.ListEvents(ctx, 0, 0)
	must(t, "ListEvents", err)
	if len(evs) != 4 {
		t.Fatalf("ListEvents = %d events, want 4: %+v", len(evs), evs)
	}
	for i, want := range []store.Event{e1, e2, e3, e4} {
		want.AppID, want.GrantID, want.CreatedAt = app, g.ID, us(want.CreatedAt)
		want.Seq = evs[i].Seq
		if i > 0 && evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("Seq not increasing: %d after %d", evs[i].Seq, evs[i-1].Seq)
		}
		mustEqual(t, fmt.Sprint("event ", i), evs[i], want)
	}
	if string(evs[0].Payload) != `{"b":1,  "a":[true]}` {
		t.Fatalf("payload not kept byte for byte: %s", evs[0].Payload)
	}

	// Paging by afterSeq.
	page, err := s.ListEvents(ctx, evs[0].Seq, 2)
	must(t, "ListEvents page", err)
	mustEqual(t, "ListEvents(after e1, 2)", page, evs[1:3])
	page, err = s.ListEvents(ctx, evs[2].Seq, 2)
	must(t, "ListEvents page 2", err)
	mustEqual(t, "ListEvents(after e3, 2)", page, evs[3:])
	page, err = s.ListEvents(ctx, evs[3].Seq, 2)
	must(t, "ListEvents last page", err)
	if len(page) != 0 {
		t.Fatalf("ListEvents after the last = %+v", page)
	}
	page, _ = s.ListEvents(ctx, 0, 1)
	mustEqual(t, "ListEvents(0, 1)", page, evs[:1])

	// Seq keeps increasing across many writers.
	var last int64 = evs[3].Seq
	done := make(chan error)
	for i := range 8 {
		go func() {
			done <- s.CreateGrant(ctx, grant(app, fmt.Sprintf("p%d@x.com", i)),
				store.Event{ID: newID("evt"), Type: "grant.created"}, store.Event{ID: newID("evt"), Type: "grant.touched"})
		}()
	}
	for range 8 {
		must(t, "concurrent CreateGrant", <-done)
	}
	more, err := s.ListEvents(ctx, last, 0)
	must(t, "ListEvents", err)
	if len(more) != 16 {
		t.Fatalf("got %d events, want 16", len(more))
	}
	for i, e := range more {
		if e.Seq <= last {
			t.Fatalf("event %d: Seq %d not after %d", i, e.Seq, last)
		}
		last = e.Seq
		if e.CreatedAt.IsZero() || e.AppID != app || e.GrantID == "" {
			t.Fatalf("event defaults not filled: %+v", e)
		}
	}
	// The two events of one CreateGrant are adjacent and in order.
	for i := 0; i < len(more); i += 2 {
		if more[i].Type != "grant.created" || more[i+1].Type != "grant.touched" || more[i].GrantID != more[i+1].GrantID {
			t.Fatalf("events of one transaction interleaved: %+v", more)
		}
	}
}

func testEventsNotWrittenOnFailure(t *testing.T, s store.Store) {
	ctx := t.Context()
	app := newApp(t, s)
	g := newGrant(t, s, app, "dup@example.com")
	ev := store.Event{ID: newID("evt"), Type: "grant.created"}
	mustIs(t, "CreateGrant duplicate email", s.CreateGrant(ctx, grant(app, "DUP@example.com"), ev), store.ErrAlreadyExists)
	dupID := grant(app, "x@example.com")
	dupID.ID = g.ID
	mustIs(t, "CreateGrant duplicate id", s.CreateGrant(ctx, dupID, ev), store.ErrAlreadyExists)
	mustIs(t, "DeleteGrant missing", s.DeleteGrant(ctx, app, "missing", ev), store.ErrNotFound)
	_, err := s.UpdateGrant(ctx, app, "missing", func(old store.Grant) (store.Grant, []store.Event, error) {
		return old, []store.Event{ev}, nil
	})
	mustIs(t, "UpdateGrant missing", err, store.ErrNotFound)
	other := newGrant(t, s, app, "other@example.com")
	_, err = s.UpdateGrant(ctx, app, other.ID, func(old store.Grant) (store.Grant, []store.Event, error) {
		old.Email = "dup@EXAMPLE.com"
		return old, []store.Event{ev}, nil
	})
	mustIs(t, "UpdateGrant onto a taken email", err, store.ErrAlreadyExists)
	evs, err := s.ListEvents(ctx, 0, 0)
	must(t, "ListEvents", err)
	if len(evs) != 0 {
		t.Fatalf("failed operations wrote events: %+v", evs)
	}
}
