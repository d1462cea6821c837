package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// compareUsage is the synopsis of "podbench compare".
const compareUsage = `usage: podbench compare [-md FILE] [-json FILE] [-header KEY=VALUE]... NAME=RESULT[,RESULT...] NAME=RESULT[,RESULT...]

Reads podbench's JSON results (-json) of two runtimes, one file per round,
and prints one table of every call they measured: the median over the rounds
of each round's median (and p90), the ratio first/second, and for the calls
hack/bench.sh has a target for, whether the ratio meets it.`

// comparison is the side-by-side table "podbench compare" prints and writes.
type comparison struct {
	Header   []headerField `json:"header"`
	Subject  side          `json:"subject"`
	Baseline side          `json:"baseline"`
	Rows     []row         `json:"rows"`
}

// headerField is one KEY=VALUE line of the table's header.
type headerField struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// side names one runtime of the comparison and its result files, one a
// round.
type side struct {
	Name  string   `json:"name"`
	Files []string `json:"files"`
}

// row compares one measurement of the two runtimes.
type row struct {
	Name     string `json:"name"`
	Unit     string `json:"unit"`
	Subject  value  `json:"subject"`
	Baseline value  `json:"baseline"`
	// Ratio is Subject.Median / Baseline.Median.
	Ratio float64 `json:"ratio"`
	// RoundRatios are the ratios of each round's values, when both runtimes
	// ran as many rounds.
	RoundRatios []float64 `json:"round_ratios,omitempty"`
	// Target is the largest ratio wanted; 0 when there is none.
	Target float64 `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

// value is a measurement over the rounds: the median of the rounds' values
// and, for calls timed many times a round, the median of the rounds' p90s.
type value struct {
	Median float64  `json:"median"`
	P90    *float64 `json:"p90,omitempty"`
}

// metric is one row's definition: how to read it from a round's result.
type metric struct {
	name   string
	unit   string
	target float64
	// read returns the round's value and p90, ok false when the result
	// does not have it.
	read func(result) (v float64, p90 *float64, ok bool)
}

// metrics lists the rows in the order they are printed, with the targets of
// crisp against containerd (docs/benchmarks.md).
func metrics(heldPods int) []metric {
	call := func(name, label string, target float64) metric {
		return metric{name: label, unit: "ms", target: target, read: func(r result) (float64, *float64, bool) {
			s, ok := r.Calls[name]
			return s.Median, &s.P90, ok
		}}
	}
	mem := func(label, point string, target float64, f func(memoryPoint) int64) metric {
		return metric{name: label, unit: "MiB", target: target, read: func(r result) (float64, *float64, bool) {
			m, ok := r.Memory[point]
			return float64(f(m)) / 1024, nil, ok
		}}
	}
	loaded := fmt.Sprintf("%d pods", heldPods)
	return []metric{
		call(callRunPod, callRunPod, 0.25),
		call(callStopPod, callStopPod, 0.25),
		call(callRemovePod, callRemovePod, 0),
		call(callCreateContainer, callCreateContainer, 0),
		call(callStartContainer, callStartContainer, 0),
		call(sumCreateStart, sumCreateStart, 0.20),
		call(callStopContainer, callStopContainer, 0),
		call(callRemoveContainer, callRemoveContainer, 1.0),
		call(sumFromScratch, "pod + container from scratch", 0.25),
		{name: "PullImage (cold)", unit: "ms", read: func(r result) (float64, *float64, bool) {
			return r.PullMS, nil, r.Image != ""
		}},
		mem("RSS idle", memoryIdle, 0.5, func(m memoryPoint) int64 { return m.All.RSSKiB }),
		mem("RSS "+loaded, memoryLoaded, 0.5, func(m memoryPoint) int64 { return m.All.RSSKiB }),
		mem("RSS "+loaded+", daemon alone", memoryLoaded, 0, func(m memoryPoint) int64 { return m.Daemon.RSSKiB }),
		// RSS split into the runtime's own memory and the pages of its
		// binaries (on kernels that map a binary's text in 2 MiB pieces,
		// nearly all of it).
		mem("RSS idle, anonymous", memoryIdle, 0, func(m memoryPoint) int64 { return m.All.AnonKiB }),
		mem("RSS idle, files", memoryIdle, 0, func(m memoryPoint) int64 { return m.All.RSSKiB - m.All.AnonKiB }),
		mem("PSS idle", memoryIdle, 0, func(m memoryPoint) int64 { return m.All.PSSKiB }),
		mem("PSS "+loaded, memoryLoaded, 0, func(m memoryPoint) int64 { return m.All.PSSKiB }),
		// The scale run (scale.go): a full node under kubelet's polling.
		scale("scale: bring-up", "s", 0, func(s *scaleResult) float64 { return s.UpSeconds }),
		scale("scale: tear-down", "s", 0, func(s *scaleResult) float64 { return s.DownSeconds }),
		scale("scale: CPU", "cores", 0.5, func(s *scaleResult) float64 { return s.CPUCores }),
		scale("scale: CPU, daemon alone", "cores", 0, func(s *scaleResult) float64 { return s.DaemonCPUCores }),
		scale("scale: RSS", "MiB", 0.5, func(s *scaleResult) float64 { return float64(s.All.RSSKiB) / 1024 }),
		scale("scale: RSS, daemon alone", "MiB", 0, func(s *scaleResult) float64 { return float64(s.Daemon.RSSKiB) / 1024 }),
		scale("scale: threads", "", 0, func(s *scaleResult) float64 { return float64(s.All.Threads) }),
		scale("scale: threads, daemon alone", "", 0, func(s *scaleResult) float64 { return float64(s.Daemon.Threads) }),
		scaleCall(callListPods),
		scaleCall(callListContainers),
		scaleCall(callListStats),
	}
}

// scale is a row of the scale run's result.
func scale(label, unit string, target float64, f func(*scaleResult) float64) metric {
	return metric{name: label, unit: unit, target: target, read: func(r result) (float64, *float64, bool) {
		if r.Scale == nil {
			return 0, nil, false
		}
		return f(r.Scale), nil, true
	}}
}

// scaleCall is the row of one polling call of the scale run.
func scaleCall(name string) metric {
	return metric{name: "scale: " + name, unit: "ms", read: func(r result) (float64, *float64, bool) {
		if r.Scale == nil {
			return 0, nil, false
		}
		s, ok := r.Scale.Calls[name]
		return s.Median, &s.P90, ok
	}}
}

// compareMain runs "podbench compare ARGS".
func compareMain(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), compareUsage); fs.PrintDefaults() }
	mdFile := fs.String("md", "", "also write the table as markdown to FILE")
	jsonFile := fs.String("json", "", "also write the comparison as JSON to FILE")
	var header []headerField
	fs.Func("header", "a KEY=VALUE line printed above the table (repeatable, in order)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", s)
		}
		header = append(header, headerField{Key: k, Value: v})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("want two NAME=RESULT[,RESULT...] arguments")
	}
	var sides [2]side
	var results [2][]result
	for i, arg := range fs.Args() {
		name, files, ok := strings.Cut(arg, "=")
		if !ok || name == "" || files == "" {
			return fmt.Errorf("argument %q: want NAME=RESULT[,RESULT...]", arg)
		}
		sides[i] = side{Name: name, Files: strings.Split(files, ",")}
		for _, f := range sides[i].Files {
			r, err := readResult(f)
			if err != nil {
				return err
			}
			results[i] = append(results[i], r)
		}
	}
	c, err := compare(header, sides[0], sides[1], results[0], results[1])
	if err != nil {
		return err
	}
	if *jsonFile != "" {
		data, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write comparison: %w", err)
		}
	}
	if *mdFile != "" {
		var b strings.Builder
		c.writeMarkdown(&b)
		if err := os.WriteFile(*mdFile, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write markdown table: %w", err)
		}
	}
	return c.writeText(out)
}

// readResult reads one podbench -json result.
func readResult(file string) (result, error) {
	var r result
	data, err := os.ReadFile(file)
	if err != nil {
		return r, fmt.Errorf("read result: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("result %s: %w", file, err)
	}
	return r, nil
}

// compare builds the table of the metrics that the results of both sides
// have (at least one round each). A metric only one side measured in some
// round is an error: the runs were not alike.
func compare(header []headerField, subject, baseline side, sub, base []result) (comparison, error) {
	c := comparison{Header: header, Subject: subject, Baseline: baseline}
	if len(sub) == 0 || len(base) == 0 {
		return c, errors.New("each side needs at least one result")
	}
	held := -1
	for _, r := range slices.Concat(sub, base) {
		m, ok := r.Memory[memoryLoaded]
		switch {
		case !ok:
		case held < 0:
			held = m.Pods
		case m.Pods != held:
			return c, fmt.Errorf("result %s measured memory with %d pods, another with %d", r.Label, m.Pods, held)
		}
	}
	for _, m := range metrics(held) {
		sv, sp, sn := readRounds(m, sub)
		bv, bp, bn := readRounds(m, base)
		if sn == 0 && bn == 0 {
			continue
		}
		if sn != len(sub) || bn != len(base) {
			return c, fmt.Errorf("%s: measured in %d of %d %s results and %d of %d %s results",
				m.name, sn, len(sub), subject.Name, bn, len(base), baseline.Name)
		}
		r := row{Name: m.name, Unit: m.unit, Subject: summarizeRounds(sv, sp), Baseline: summarizeRounds(bv, bp), Target: m.target}
		r.Ratio = ratio(r.Subject.Median, r.Baseline.Median)
		if len(sv) == len(bv) {
			for i := range sv {
				r.RoundRatios = append(r.RoundRatios, ratio(sv[i], bv[i]))
			}
		}
		if m.target > 0 {
			met := r.Ratio <= m.target
			r.Met = &met
		}
		c.Rows = append(c.Rows, r)
	}
	if len(c.Rows) == 0 {
		return c, errors.New("the results have no measurement in common")
	}
	return c, nil
}

// readRounds reads m from each result, returning the values, the p90s (if
// m has them) and in how many results m was found.
func readRounds(m metric, results []result) (values, p90s []float64, n int) {
	for _, r := range results {
		v, p90, ok := m.read(r)
		if !ok {
			continue
		}
		n++
		values = append(values, v)
		if p90 != nil {
			p90s = append(p90s, *p90)
		}
	}
	return values, p90s, n
}

// summarizeRounds is the median of the rounds' values and of their p90s.
func summarizeRounds(values, p90s []float64) value {
	v := value{Median: median(slices.Sorted(slices.Values(values)))}
	if len(p90s) > 0 {
		p := median(slices.Sorted(slices.Values(p90s)))
		v.P90 = &p
	}
	return v
}

// ratio is a/b, 0 when b is 0 (a measurement too small to read).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// cells are a row's printed columns after its name.
func (r row) cells() (subject, baseline, ratioCell, target, verdict, rounds string) {
	f := func(v value) string {
		switch r.Unit {
		case "MiB", "s":
			return fmt.Sprintf("%.1f %s", v.Median, r.Unit)
		case "cores":
			return fmt.Sprintf("%.3f cores", v.Median)
		case "":
			return fmt.Sprintf("%.0f", v.Median)
		}
		if v.P90 == nil {
			return fmt.Sprintf("%.1f ms", v.Median)
		}
		return fmt.Sprintf("%.1f ms (p90 %.1f)", v.Median, *v.P90)
	}
	subject, baseline = f(r.Subject), f(r.Baseline)
	ratioCell = fmt.Sprintf("%.3f", r.Ratio)
	target, verdict = "-", "-"
	if r.Met != nil {
		target = fmt.Sprintf("<= %.2f", r.Target)
		verdict = "met"
		if !*r.Met {
			verdict = "NOT MET"
		}
	}
	rs := make([]string, len(r.RoundRatios))
	for i, x := range r.RoundRatios {
		rs[i] = fmt.Sprintf("%.2f", x)
	}
	return subject, baseline, ratioCell, target, verdict, strings.Join(rs, " ")
}

// writeText prints the header and an aligned table.
func (c comparison) writeText(w io.Writer) error {
	for _, h := range c.Header {
		if _, err := fmt.Fprintf(w, "%s: %s\n", h.Key, h.Value); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "call\t%s median\t%s median\tratio\ttarget\t\tratio per round\n", c.Subject.Name, c.Baseline.Name)
	for _, r := range c.Rows {
		s, b, ratio, target, verdict, rounds := r.cells()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, s, b, ratio, target, verdict, rounds)
	}
	return tw.Flush()
}

// writeMarkdown writes the header as a list and the table, for
// docs/benchmarks.md.
func (c comparison) writeMarkdown(b *strings.Builder) {
	for _, h := range c.Header {
		fmt.Fprintf(b, "- %s: %s\n", h.Key, h.Value)
	}
	if len(c.Header) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "| call | %s median (p90) | %s median (p90) | ratio | target | | ratio per round |\n", c.Subject.Name, c.Baseline.Name)
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range c.Rows {
		s, bs, ratio, target, verdict, rounds := r.cells()
		if r.Met != nil && !*r.Met {
			verdict = "**NOT MET**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Name, s, bs, ratio, strings.Replace(target, "<=", "≤", 1), verdict, rounds)
	}
}
