package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPGCluster(t *testing.T) {
	c := StartPGCluster(t)
	ping := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.URL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return conn.Ping(ctx)
	}
	if err := ping(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.Stop("immediate")
	if err := ping(time.Second); err == nil {
		t.Fatal("stopped cluster answered")
	}
	c.Start()
	if err := ping(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.Freeze()
	if err := ping(500 * time.Millisecond); err == nil {
		t.Fatal("frozen cluster answered")
	}
	c.Thaw()
	if err := ping(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
