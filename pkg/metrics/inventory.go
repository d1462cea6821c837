package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// StateCounts counts objects by state, at the moment it is called.
type StateCounts func() map[string]int

// inventory reports pod and container counts by state, counted at scrape
// time from the managers, so the gauges never drift from what crisp holds.
type inventory struct {
	pods, containers         StateCounts
	podsDesc, containersDesc *prometheus.Desc
}

// RegisterInventory adds gauges of pods and containers by state, each
// counted by its function at every scrape.
func (m *Metrics) RegisterInventory(pods, containers StateCounts) error {
	return m.reg.Register(&inventory{
		pods:       pods,
		containers: containers,
		podsDesc: prometheus.NewDesc(namespace+"_pods", "Pod sandboxes crisp holds, by state.",
			[]string{"state"}, nil),
		containersDesc: prometheus.NewDesc(namespace+"_containers", "Containers crisp holds, by state.",
			[]string{"state"}, nil),
	})
}

func (i *inventory) Describe(ch chan<- *prometheus.Desc) {
	ch <- i.podsDesc
	ch <- i.containersDesc
}

func (i *inventory) Collect(ch chan<- prometheus.Metric) {
	for desc, count := range map[*prometheus.Desc]StateCounts{i.podsDesc: i.pods, i.containersDesc: i.containers} {
		for state, n := range count() {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), state)
		}
	}
}
