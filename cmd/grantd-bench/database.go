package main

import (
	"context"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

// withAppName gives the grantd's connections an application_name of the
// run's, so that its PostgreSQL backends can be found in
// pg_stat_activity; a name already in dsn is kept.
func withAppName(dsn, name string) (string, string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", "", err
	}
	if n := cfg.RuntimeParams["application_name"]; n != "" {
		return dsn, n, nil
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String(), name, nil
	}
	return strings.TrimSpace(dsn) + " application_name=" + name, name, nil
}

// watchDatabase adds the PostgreSQL backends serving the grantd's
// connections (application_name app) as one process: when the server runs
// on this machine, their CPU is read like any other process's.
func (e *env) watchDatabase(ctx context.Context, dsn, app string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = "grantd-bench monitor"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	e.db = conn
	e.procs = append(e.procs, &proc{name: procDB, pids: func(ctx context.Context) ([]int, error) {
		rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
		if err != nil {
			return nil, err
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		out := make([]int, len(pids))
		for i, p := range pids {
			out[i] = int(p)
		}
		return out, err
	}})
	return nil
}
