package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	deliveries   *prometheus.CounterVec
	duration     prometheus.Histogram
	firstAttempt prometheus.Histogram
	depth        prometheus.Gauge
	oldest       prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_webhook_deliveries_total",
			Help: "Webhook delivery attempts by this node, by outcome: delivered, failed (retried later), gone (410: the destination failed), given_up (too old), dropped (destination paused, failed or unsubscribed: not attempted).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "grantd_webhook_attempt_duration_seconds", Help: "Duration of webhook delivery attempts.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		firstAttempt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "grantd_webhook_first_attempt_latency_seconds", Help: "Time from an event to the start of its first delivery attempt.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "grantd_webhook_queue_depth", Help: "Webhook deliveries queued (all nodes), updated every 5 s.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "grantd_webhook_oldest_undelivered_seconds", Help: "Age of the event of the oldest queued webhook delivery (0 when none), updated every 5 s.",
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.deliveries, m.duration, m.firstAttempt, m.depth, m.oldest} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	for _, o := range []string{"delivered", "failed", "gone", "given_up", "dropped"} {
		m.deliveries.WithLabelValues(o)
	}
	return nil
}
