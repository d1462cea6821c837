package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/test/bench/internal/procmem"
)

// roundResult is a result whose every call's median is median and p90 is
// twice that, pulling in pull and using rssKiB (idle) and 3×rssKiB (with
// 10 pods), as one round of a container run.
func roundResult(label string, median time.Duration, pull float64, rssKiB int64) result {
	s := sample{run: median, stop: median, remove: median, create: median, start: median, stopContainer: median, removeContainer: median}
	r := summarize(label, "rt", "1", []sample{s, s, s, {
		run: 2 * median, stop: 2 * median, remove: 2 * median, create: 2 * median, start: 2 * median, stopContainer: 2 * median, removeContainer: 2 * median,
	}}, true)
	r.Image, r.PullMS = "img", pull
	r.Memory = map[string]memoryPoint{
		memoryIdle:   {Daemon: procmem.Usage{Procs: 1, RSSKiB: rssKiB, PSSKiB: rssKiB / 2, AnonKiB: rssKiB / 4}, All: procmem.Usage{Procs: 1, RSSKiB: rssKiB, PSSKiB: rssKiB / 2, AnonKiB: rssKiB / 4}},
		memoryLoaded: {Pods: 10, Daemon: procmem.Usage{Procs: 1, RSSKiB: rssKiB}, All: procmem.Usage{Procs: 11, RSSKiB: 3 * rssKiB, PSSKiB: rssKiB}},
	}
	return r
}

func findRow(t *testing.T, c comparison, name string) row {
	t.Helper()
	for _, r := range c.Rows {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no row %q in %v", name, c.Rows)
	return row{}
}

func TestCompareTakesMediansOfRoundsAndChecksTargets(t *testing.T) {
	ms := time.Millisecond
	// Rounds of 10, 30 and 20 ms against 100 ms each: the medians are 20
	// and 100, a ratio of 0.2.
	sub := []result{roundResult("a-1", 10*ms, 50, 10240), roundResult("a-2", 30*ms, 70, 30720), roundResult("a-3", 20*ms, 60, 20480)}
	base := []result{roundResult("b-1", 100*ms, 50, 102400), roundResult("b-2", 100*ms, 50, 102400), roundResult("b-3", 100*ms, 50, 102400)}
	c, err := compare(nil, side{Name: "a"}, side{Name: "b"}, sub, base)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(c.Rows))
	for i, r := range c.Rows {
		names[i] = r.Name
	}
	want := []string{"RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "CreateContainer", "StartContainer",
		"CreateContainer+StartContainer", "StopContainer", "RemoveContainer", "pod + container from scratch", "PullImage (cold)",
		"RSS idle", "RSS 10 pods", "RSS 10 pods, daemon alone", "RSS idle, anonymous", "RSS idle, files", "PSS idle", "PSS 10 pods"}
	if !slices.Equal(names, want) {
		t.Fatalf("rows %q, want %q", names, want)
	}

	run := findRow(t, c, "RunPodSandbox")
	if run.Subject.Median != 20 || *run.Subject.P90 != 40 || run.Baseline.Median != 100 || run.Ratio != 0.2 || run.Target != 0.25 || !*run.Met {
		t.Errorf("RunPodSandbox row %+v", run)
	}
	if !slices.Equal(run.RoundRatios, []float64{0.1, 0.3, 0.2}) {
		t.Errorf("round ratios %v", run.RoundRatios)
	}
	// Sums: create+start is 2 × 20 against 2 × 100, from scratch 3 × 20
	// against 3 × 100: both 0.2, which meets 0.20 and 0.25.
	for name, target := range map[string]float64{"CreateContainer+StartContainer": 0.20, "pod + container from scratch": 0.25} {
		r := findRow(t, c, name)
		if r.Ratio != 0.2 || r.Target != target || !*r.Met {
			t.Errorf("%s row %+v", name, r)
		}
	}
	if r := findRow(t, c, "CreateContainer"); r.Met != nil || r.Target != 0 {
		t.Errorf("CreateContainer has no target: %+v", r)
	}
	if r := findRow(t, c, "PullImage (cold)"); r.Subject.Median != 60 || r.Baseline.Median != 50 || r.Subject.P90 != nil || r.Ratio != 1.2 {
		t.Errorf("pull row %+v", r)
	}
	// 20 MiB against 100 MiB idle; 60 against 300 with the pods.
	if r := findRow(t, c, "RSS idle"); r.Subject.Median != 20 || r.Baseline.Median != 100 || r.Unit != "MiB" || !*r.Met {
		t.Errorf("RSS idle row %+v", r)
	}
	if r := findRow(t, c, "RSS 10 pods"); r.Subject.Median != 60 || r.Baseline.Median != 300 {
		t.Errorf("RSS loaded row %+v", r)
	}
	if r := findRow(t, c, "RSS 10 pods, daemon alone"); r.Subject.Median != 20 || r.Met != nil {
		t.Errorf("daemon alone row %+v", r)
	}
}

func TestCompareReportsMissedTargets(t *testing.T) {
	ms := time.Millisecond
	c, err := compare(nil, side{Name: "a"}, side{Name: "b"},
		[]result{roundResult("a-1", 30*ms, 50, 60000)}, []result{roundResult("b-1", 100*ms, 50, 100000)})
	if err != nil {
		t.Fatal(err)
	}
	for name, met := range map[string]bool{"RunPodSandbox": false, "CreateContainer+StartContainer": false, "RemoveContainer": true, "RSS idle": false} {
		if r := findRow(t, c, name); r.Met == nil || *r.Met != met {
			t.Errorf("%s: met %v, want %v (ratio %.3f, target %.2f)", name, r.Met, met, r.Ratio, r.Target)
		}
	}
}

func TestComparePodOnlyResults(t *testing.T) {
	ms := time.Millisecond
	s := sample{run: 10 * ms, stop: 10 * ms, remove: 10 * ms}
	c, err := compare(nil, side{Name: "a"}, side{Name: "b"},
		[]result{summarize("a", "rt", "1", []sample{s}, false)}, []result{summarize("b", "rt", "1", []sample{s}, false)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 3 {
		t.Errorf("rows %v, want the three pod calls only", c.Rows)
	}
}

func TestCompareRefusesUnlikeRuns(t *testing.T) {
	ms := time.Millisecond
	pods := summarize("a", "rt", "1", []sample{{run: ms, stop: ms, remove: ms}}, false)
	full := roundResult("b", ms, 1, 1)
	other := roundResult("b", ms, 1, 1)
	other.Memory[memoryLoaded] = memoryPoint{Pods: 5}
	for name, tt := range map[string]struct {
		sub, base []result
		want      string
	}{
		"container in one only": {[]result{pods}, []result{full}, "CreateContainer: measured in 0 of 1 a results and 1 of 1 b results"},
		"different pods held":   {[]result{full}, []result{other}, "measured memory with 5 pods, another with 10"},
		"no results":            {nil, []result{full}, "at least one result"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := compare(nil, side{Name: "a"}, side{Name: "b"}, tt.sub, tt.base)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("compare error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCompareMainWritesTextMarkdownAndJSON(t *testing.T) {
	ms := time.Millisecond
	dir := t.TempDir()
	write := func(name string, r result) string {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	a1, a2 := write("a1.json", roundResult("a-1", 20*ms, 50, 10240)), write("a2.json", roundResult("a-2", 40*ms, 50, 10240))
	b1, b2 := write("b1.json", roundResult("b-1", 100*ms, 50, 102400)), write("b2.json", roundResult("b-2", 100*ms, 50, 102400))
	md, js := filepath.Join(dir, "t.md"), filepath.Join(dir, "t.json")
	var out strings.Builder
	err := compareMain([]string{"-md", md, "-json", js, "-header", "commit=abc123", "-header", "load average at start=1.00 2.00 3.00",
		"crisp=" + a1 + "," + a2, "containerd=" + b1 + "," + b2}, &out)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"commit: abc123\nload average at start: 1.00 2.00 3.00\n",
		"call                            crisp median         containerd median     ratio  target            ratio per round\n",
		// Medians 30 (20, 40) against 100; p90s 60 against 200.
		"RunPodSandbox                   30.0 ms (p90 60.0)   100.0 ms (p90 200.0)  0.300  <= 0.25  NOT MET  0.20 0.40\n",
		"RemoveContainer                 30.0 ms (p90 60.0)   100.0 ms (p90 200.0)  0.300  <= 1.00  met      0.20 0.40\n",
		"StartContainer                  30.0 ms (p90 60.0)   100.0 ms (p90 200.0)  0.300  -        -        0.20 0.40\n",
		"pod + container from scratch    90.0 ms (p90 180.0)  300.0 ms (p90 600.0)  0.300  <= 0.25  NOT MET  0.20 0.40\n",
		"RSS idle                        10.0 MiB             100.0 MiB             0.100  <= 0.50  met      0.10 0.10\n",
		"RSS idle, anonymous             2.5 MiB              25.0 MiB              0.100  -        -        0.10 0.10\n",
		"RSS idle, files                 7.5 MiB              75.0 MiB              0.100  -        -        0.10 0.10\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}

	mdText, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- commit: abc123\n",
		"| call | crisp median (p90) | containerd median (p90) | ratio | target | | ratio per round |\n|---|",
		"| RunPodSandbox | 30.0 ms (p90 60.0) | 100.0 ms (p90 200.0) | 0.300 | ≤ 0.25 | **NOT MET** | 0.20 0.40 |\n",
		"| RSS 10 pods | 30.0 MiB | 300.0 MiB | 0.100 | ≤ 0.50 | met | 0.10 0.10 |\n",
	} {
		if !strings.Contains(string(mdText), want) {
			t.Errorf("markdown lacks %q:\n%s", want, mdText)
		}
	}

	var c comparison
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.Subject.Name != "crisp" || len(c.Baseline.Files) != 2 || len(c.Rows) != 17 || c.Header[0] != (headerField{"commit", "abc123"}) {
		t.Errorf("JSON comparison %+v", c)
	}
}

func TestCompareMainRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"a=x.json"},
		{"a=x.json", "b"},
		{"-header", "nokey", "a=x.json", "b=y.json"},
		{"a=/nonexistent/x.json", "b=/nonexistent/y.json"},
	} {
		if err := compareMain(args, &strings.Builder{}); err == nil {
			t.Errorf("compare %q succeeded", args)
		}
	}
}
