package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grantd/grantd/internal/store"
)

// Queue is the delivery queue in the store (internal/store/sqlstore
// implements it for both databases).
type Queue interface {
	// RelayEvents turns up to limit outbox events after the relay cursor
	// into deliveries, in one transaction with the cursor's advance: route
	// returns, for one event and its application's destinations, the ids
	// of those that get it. Concurrent callers (any node) never relay an
	// event twice. It returns the number of events relayed.
	RelayEvents(ctx context.Context, limit int, route func(ev store.Event, hooks []store.Webhook) []string) (int, error)
	// ClaimDeliveries leases to owner, until now+lease, up to limit
	// deliveries that are due (NextAttemptAt not after now), not leased
	// and the first queued of their (webhook, grant) chain, earliest due
	// first, with their event and destination. Concurrent callers never
	// receive the same delivery while its lease runs.
	ClaimDeliveries(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]store.Delivery, error)
	// FinishDeliveries records the results of attempts, in one
	// transaction: a Done delivery is removed; another one, still leased
	// to owner, gets its Attempts and NextAttemptAt and loses its lease.
	// For each destination with results, update gets the destination and
	// its results; the destination is written back as returned, and its
	// other queued deliveries are dropped or made due now when update says
	// so. A destination deleted meanwhile is skipped.
	FinishDeliveries(ctx context.Context, owner string, results []store.DeliveryResult, update func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction)) error
	// DeliveryStats counts the queued deliveries.
	DeliveryStats(ctx context.Context) (store.DeliveryStats, error)
}

// Config is how the worker delivers (the webhooks.* keys).
type Config struct {
	Workers      int
	Timeout      time.Duration
	MinBackoff   time.Duration
	MaxBackoff   time.Duration
	Lease        time.Duration
	PollInterval time.Duration
}

// Worker delivers queued events; every node runs one.
type Worker struct {
	cfg     Config
	queue   Queue
	hooks   *Service
	http    *http.Client
	log     *slog.Logger
	now     func() time.Time
	owner   string
	metrics *metrics

	wake    chan struct{} // the claimer: something may be claimable
	results chan store.DeliveryResult
}

// NewWorker returns a worker; owner names this node in leases.
func NewWorker(cfg Config, q Queue, hooks *Service, client *http.Client, log *slog.Logger, now func() time.Time, owner string) *Worker {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Lease < cfg.Timeout+10*time.Second {
		cfg.Lease = cfg.Timeout + 10*time.Second
	}
	return &Worker{
		cfg: cfg, queue: q, hooks: hooks, http: client, log: log, now: now, owner: owner,
		metrics: newMetrics(),
		wake:    make(chan struct{}, 1),
		results: make(chan store.DeliveryResult, 4*cfg.Workers),
	}
}

// Register adds the worker's metrics to reg.
func (w *Worker) Register(reg prometheus.Registerer) error { return w.metrics.register(reg) }

func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run relays and delivers until ctx is done, then finishes the attempts
// in flight and records their results.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.relayLoop(ctx) }()
	go func() { defer wg.Done(); w.statsLoop(ctx) }()

	jobs := make(chan store.Delivery)
	free := make(chan struct{}, w.cfg.Workers)
	var attempts sync.WaitGroup
	for range w.cfg.Workers {
		free <- struct{}{}
		attempts.Add(1)
		go func() {
			defer attempts.Done()
			for d := range jobs {
				// An attempt under way is finished after a stop: its
				// result must be recorded.
				w.results <- w.attempt(context.WithoutCancel(ctx), d)
				free <- struct{}{}
			}
		}()
	}
	flushed := make(chan struct{})
	go func() { defer close(flushed); w.flushLoop() }()

	w.claimLoop(ctx, jobs, free)
	close(jobs)
	attempts.Wait()
	close(w.results)
	<-flushed
	wg.Wait()
}

// claimLoop claims as many deliveries as there are idle attempt
// goroutines and hands them over, whenever woken (new deliveries relayed,
// results recorded) or every poll interval.
func (w *Worker) claimLoop(ctx context.Context, jobs chan<- store.Delivery, free chan struct{}) {
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		case <-w.wake:
		}
		for n := len(free); n > 0; n = len(free) {
			ds, err := w.queue.ClaimDeliveries(ctx, w.now(), w.owner, w.cfg.Lease, n)
			if err != nil {
				if ctx.Err() == nil {
					w.log.Warn("webhooks: claiming deliveries failed", slog.Any("err", err))
				}
				break
			}
			for _, d := range ds {
				<-free
				// An idle goroutine is waiting: this does not block (a
				// delivery not handed over is left to its lease).
				jobs <- d
			}
			if len(ds) < n {
				break
			}
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(w.cfg.PollInterval)
	}
}

// flushLoop records results in batches: whatever arrived while the last
// batch was written goes in the next one (group commit).
func (w *Worker) flushLoop() {
	for r := range w.results {
		batch := []store.DeliveryResult{r}
	more:
		for len(batch) < 1000 {
			select {
			case r, ok := <-w.results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		w.finish(batch)
	}
}

// finish writes a batch of results, retrying a store failure for a while
// (the deliveries' leases keep them from other nodes meanwhile; after
// that they are attempted again: at least once).
func (w *Worker) finish(batch []store.DeliveryResult) {
	now := w.now()
	update := func(old store.Webhook, rs []store.DeliveryResult) (store.Webhook, store.QueueAction) {
		gone := slices.ContainsFunc(rs, func(r store.DeliveryResult) bool { return r.Status == statusCode(http.StatusGone) })
		nw, failed := applyResults(old, rs, gone, now)
		switch {
		case failed:
			w.log.Warn("webhooks: destination failed; its deliveries stop until it is set active again",
				slog.String("webhook_id", old.ID), slog.String("app_id", old.AppID), slog.String("last_status", nw.LastDeliveryStatus))
			return nw, store.QueueDrop
		case old.ConsecutiveFailures > 0 && slices.ContainsFunc(rs, func(r store.DeliveryResult) bool { return r.Status != "" && !r.Failed }):
			// It answers again: the deliveries waiting out their backoff
			// go now rather than up to webhooks.max_backoff later.
			return nw, store.QueueRetryNow
		}
		return nw, store.QueueKeep
	}
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.queue.FinishDeliveries(ctx, w.owner, batch, update)
		cancel()
		if err == nil {
			break
		}
		if try >= 5 {
			w.log.Error("webhooks: recording delivery results failed; the deliveries will be attempted again when their leases run out",
				slog.Int("results", len(batch)), slog.Any("err", err))
			break
		}
		w.log.Warn("webhooks: recording delivery results failed; retrying", slog.Any("err", err))
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	w.poke() // the next deliveries of these chains may be claimable
}

// attempt makes one attempt of d and returns its result.
func (w *Worker) attempt(ctx context.Context, d store.Delivery) store.DeliveryResult {
	start := w.now()
	res := store.DeliveryResult{ID: d.ID, WebhookID: d.WebhookID, Attempts: d.Attempts}
	if !Deliverable(d.Webhook.Status) || !slices.Contains(d.Webhook.TriggerTypes, d.Event.Type) {
		// Paused, failed or unsubscribed since it was queued.
		res.Done = true
		w.metrics.deliveries.WithLabelValues("dropped").Inc()
		return res
	}
	if d.Attempts == 0 {
		w.metrics.firstAttempt.Observe(start.Sub(d.Event.CreatedAt).Seconds())
	}
	res.Attempts = d.Attempts + 1
	o := w.send(ctx, d, res.Attempts)
	end := w.now()
	w.metrics.duration.Observe(end.Sub(start).Seconds())
	res.Status, res.At = o.Status, end
	switch {
	case o.Delivered():
		res.Done = true
		w.metrics.deliveries.WithLabelValues("delivered").Inc()
	case o.Gone():
		res.Done, res.Failed = true, true
		w.metrics.deliveries.WithLabelValues("gone").Inc()
	case end.Sub(d.CreatedAt) >= MaxDeliveryAge:
		res.Done, res.Failed = true, true
		w.metrics.deliveries.WithLabelValues("given_up").Inc()
		w.log.Warn("webhooks: delivery given up", slog.String("webhook_id", d.WebhookID), slog.String("event_id", d.Event.ID),
			slog.Int("attempts", res.Attempts), slog.String("last_status", o.Status))
	default:
		res.Failed = true
		res.NextAttemptAt = end.Add(Backoff(res.Attempts, w.cfg.MinBackoff, w.cfg.MaxBackoff)).UTC().Truncate(time.Microsecond)
		w.metrics.deliveries.WithLabelValues("failed").Inc()
		w.log.Debug("webhooks: attempt failed", slog.String("webhook_id", d.WebhookID), slog.String("event_id", d.Event.ID),
			slog.Int("attempt", res.Attempts), slog.String("status", o.Status), slog.String("reason", o.Err))
	}
	return res
}

// send signs and posts attempt number attempt of d.
func (w *Worker) send(ctx context.Context, d store.Delivery, attempt int) Outcome {
	secret, err := w.hooks.Secret(d.Webhook)
	if err != nil {
		w.log.Error("webhooks: cannot sign", slog.String("webhook_id", d.WebhookID), slog.Any("err", err))
		return Outcome{Status: "secret_error", Err: "the signing secret could not be opened"}
	}
	body, err := Body(d.Event, attempt, d.Webhook.CompressedDelivery)
	if err != nil {
		return Outcome{Status: "body_error", Err: "the body could not be built"}
	}
	return post(ctx, w.http, d.Webhook.URL, body, d.Webhook.CompressedDelivery, Sign(secret, body), w.cfg.Timeout)
}

// Route says which of an event's application's destinations get it:
// deliverable ones subscribed to its type that existed when it happened.
func Route(ev store.Event, hooks []store.Webhook) []string {
	var ids []string
	for _, h := range hooks {
		if h.AppID == ev.AppID && Deliverable(h.Status) && slices.Contains(h.TriggerTypes, ev.Type) && !ev.CreatedAt.Before(h.CreatedAt) {
			ids = append(ids, h.ID)
		}
	}
	return ids
}

// relayLoop relays new events every poll interval.
func (w *Worker) relayLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		for {
			n, err := w.queue.RelayEvents(ctx, relayBatch, Route)
			if err != nil {
				if ctx.Err() == nil {
					w.log.Warn("webhooks: relaying events failed", slog.Any("err", err))
				}
				break
			}
			if n > 0 {
				w.poke()
			}
			if n < relayBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

const relayBatch = 1000

// statsLoop keeps the queue gauges up to date.
func (w *Worker) statsLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		st, err := w.queue.DeliveryStats(ctx)
		if err == nil {
			w.metrics.depth.Set(float64(st.Queued))
			age := 0.0
			if !st.Oldest.IsZero() {
				age = max(w.now().Sub(st.Oldest).Seconds(), 0)
			}
			w.metrics.oldest.Set(age)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
