package refresh

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/grantd/grantd/internal/provider"
)

type metrics struct {
	refreshes *prometheus.CounterVec
	failures  *prometheus.CounterVec
	due       prometheus.Gauge
	lateness  prometheus.Histogram
	// concurrency is each provider's current limit (limiter.go).
	concurrency *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_refresh_total",
			Help: "Grant refresh attempts, by provider and outcome (success, transient, permanent, superseded, busy, skipped, held: the provider answered and the store did not take the answer yet; throttled: no slot of the provider's concurrency limit freed within a quarter of the lease, the grant was released untouched).",
		}, []string{"provider", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_refresh_failures_total",
			Help: "Failed grant refreshes and re-checks, by provider and failure class (provider_unavailable, invalid_client, tls_error, invalid_credentials, ...; other for store and vault errors). Transient classes that keep growing, such as invalid_client after a connector secret expired, need an operator.",
		}, []string{"provider", "class"}),
		due: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "grantd_refresh_due_grants",
			Help: "Valid grants whose planned refresh time has passed (due but not yet refreshed), updated periodically.",
		}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "grantd_refresh_lateness_seconds",
			Help:    "Delay between a grant's planned refresh time and the moment a worker claimed it.",
			Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}),
		concurrency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "grantd_refresh_provider_concurrency",
			Help: "This node's current limit on refreshes in flight per provider: grows while the provider answers in good time, halves on 429, 5xx and timeouts, pauses on Retry-After (refresh.provider_concurrency_min ... refresh.provider_concurrency_max).",
		}, []string{"provider"}),
	}
}

// Register adds the refresher's metrics to reg.
func (r *Refresher) Register(reg prometheus.Registerer) error {
	held := func(place string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "grantd_refresh_held_answers",
			Help:        "Provider answers (rotated refresh tokens) this node holds because the store has not taken them yet: in memory, and in the spool on disk.",
			ConstLabels: prometheus.Labels{"place": place},
		}, f)
	}
	cs := []prometheus.Collector{r.m.refreshes, r.m.failures, r.m.due, r.m.lateness, r.m.concurrency,
		held("memory", func() float64 { m, _, _ := r.Held(); return float64(m) }),
		held("spool", func() float64 { _, s, _ := r.Held(); return float64(s) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "grantd_refresh_held_oldest_seconds",
			Help: "Age of the oldest provider answer this node holds unstored (0: none).",
		}, func() float64 { _, _, o := r.Held(); return o.Seconds() }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// count records a refresh's outcome, and its failure class when it failed.
func (m *metrics) count(prov string, res result) {
	m.refreshes.WithLabelValues(prov, string(res.outcome)).Inc()
	if res.outcome == outTransient || res.outcome == outPermanent {
		class := string(provider.ClassOf(res.err))
		if class == "" {
			class = "other"
		}
		m.failures.WithLabelValues(prov, class).Inc()
	}
}
