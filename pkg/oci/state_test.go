package oci

import (
	"encoding/json"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// TestRecordConfigJSON checks that a record writes its config from the
// bundle's bytes while they are current and encodes the spec otherwise, and
// that both read back as the same spec.
func TestRecordConfigJSON(t *testing.T) {
	spec := &specs.Spec{Version: "1.2.0", Hostname: "from-spec"}
	raw := json.RawMessage(`{"ociVersion":"1.2.0","hostname":"from-spec","x-unknown":1}`)
	for _, tc := range []struct {
		name       string
		configJSON json.RawMessage
		wantRaw    bool
	}{
		{"bundle bytes", raw, true},
		{"changed since", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &record{ID: "c1", Config: spec, configJSON: tc.configJSON}
			data, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(data, &fields); err != nil {
				t.Fatal(err)
			}
			if got := string(fields["config"]) == string(raw); got != tc.wantRaw {
				t.Errorf("config %s: written from the bundle's bytes %v, want %v", fields["config"], got, tc.wantRaw)
			}
			if string(fields["id"]) != `"c1"` {
				t.Errorf("id %s, want \"c1\"", fields["id"])
			}
			back := &record{}
			if err := json.Unmarshal(data, back); err != nil {
				t.Fatal(err)
			}
			if back.Config == nil || back.Config.Hostname != "from-spec" || back.Config.Version != "1.2.0" {
				t.Errorf("read back config %+v", back.Config)
			}
		})
	}
}

// TestCgroupsPath checks where a container's cgroup goes with and without
// runc's --systemd-cgroup.
func TestCgroupsPath(t *testing.T) {
	for _, tc := range []struct {
		systemd    bool
		spec, want string
		fails      bool
	}{
		{false, "", "/crisp/c1", false},
		{false, "/kubepods/pod1/c1", "/kubepods/pod1/c1", false},
		{false, "kubepods.slice:cri:c1", "kubepods.slice:cri:c1", false},
		{true, "", "system.slice:crisp:c1", false},
		{true, "kubepods.slice:cri:c1", "kubepods.slice:cri:c1", false},
		{true, "/kubepods/pod1/c1", "", true},
	} {
		r := &Runtime{systemd: tc.systemd}
		got, err := r.cgroupsPath(tc.spec, "c1")
		var fe *errdefs.FieldError
		switch {
		case tc.fails && (!errors.As(err, &fe) || fe.Field != "linux.cgroupsPath"):
			t.Errorf("systemd %v, %q: %v, want an error naming linux.cgroupsPath", tc.systemd, tc.spec, err)
		case !tc.fails && (err != nil || got != tc.want):
			t.Errorf("systemd %v, %q: %q, %v; want %q", tc.systemd, tc.spec, got, err, tc.want)
		}
	}
}
