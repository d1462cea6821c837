package cri

import (
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// FuzzSandboxSpec validates and translates PodSandboxConfigs with hostile
// fields. sandboxSpec must not panic; a refusal is a field error naming a
// CRI field path; an accepted spec holds what the files and plugins below
// rely on: a hostname, DNS entries and names that cannot add a line or a
// word, a clean absolute log directory, parseable host IPs, known
// protocols, and sysctls the pod's own namespaces take.
func FuzzSandboxSpec(f *testing.F) {
	f.Add("p", "u", "ns", "p", "/var/log/pods/ns_p_u", "10.0.0.10", "svc.cluster.local", "ndots:5", "127.0.0.1", int32(0), int32(80), int32(8080), "net.ipv4.ip_forward", "1", int32(0), int32(0), "runc")
	f.Add("p", "u", "ns", "web\n6.6.6.6\tbank", "../../etc", "10.0.0.10\nnameserver 6.6.6.6", "a b", "ndots:5 rotate", "not-an-ip;rm -rf /", int32(99), int32(0), int32(-1), "kernel.domainname", "x", int32(1), int32(0), "")
	f.Add("p\x00", "u;K8S_POD_NAME=x", "ns=", "", "/var/log/../etc", "fe80::1%eth0", "_tcp.example.", "edns0", "::1", int32(2), int32(65535), int32(65536), "kernel.hostname", "1\n0", int32(0), int32(1), "runc\x00")
	f.Add(strings.Repeat("n", 300), "u", "ns", strings.Repeat("h", 65), "/", "", "", ":", "", int32(-5), int32(1), int32(0), "net./../kernel.panic", "", int32(2), int32(2), strings.Repeat("r", 300))
	f.Add("p", "u", "ns", "a.b-c", "/var/log/pods/x/", "::", ".", "timeout:1.5", "fe80::1%eth0", int32(1), int32(53), int32(53), "fs.mqueue.msg_max", "10", int32(0), int32(1), "")

	f.Fuzz(func(t *testing.T, name, uid, namespace, hostname, logDir, server, search, option, hostIP string,
		protocol, containerPort, hostPort int32, sysctlKey, sysctlValue string, netMode, ipcMode int32, handler string) {
		cfg := &runtimeapi.PodSandboxConfig{
			Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: namespace},
			Hostname:     hostname,
			LogDirectory: logDir,
			DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{server}, Searches: []string{search}, Options: []string{option}},
			PortMappings: []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol(protocol), ContainerPort: containerPort, HostPort: hostPort, HostIp: hostIP}},
			Labels:       map[string]string{name: hostname},
			Annotations:  map[string]string{namespace: option},
			Linux: &runtimeapi.LinuxPodSandboxConfig{
				Sysctls: map[string]string{sysctlKey: sysctlValue},
				SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: runtimeapi.NamespaceMode(netMode),
					Ipc:     runtimeapi.NamespaceMode(ipcMode),
				}},
			},
		}
		spec, err := sandboxSpec(cfg, handler)
		if err != nil {
			var fe *errdefs.FieldError
			if !errors.As(err, &fe) || !(strings.HasPrefix(fe.Field, "config") || fe.Field == "runtime_handler") {
				t.Fatalf("refusal is not a field error naming a CRI field: %v", err)
			}
			return
		}
		oneWord := func(what, s string) {
			if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
				t.Errorf("accepted %s %q holds whitespace or a control character", what, s)
			}
		}
		oneWord("hostname", spec.Hostname)
		if len(spec.Hostname) > maxHostnameLen {
			t.Errorf("accepted hostname of %d bytes", len(spec.Hostname))
		}
		for _, s := range [][]string{spec.DNS.Servers, spec.DNS.Searches, spec.DNS.Options} {
			for _, e := range s {
				oneWord("DNS entry", e)
			}
		}
		for _, s := range []string{spec.Metadata.Name, spec.Metadata.UID, spec.Metadata.Namespace, spec.RuntimeHandler} {
			oneWord("name", s)
			if strings.ContainsAny(s, ";=/") || len(s) > maxNameLen {
				t.Errorf("accepted name %q", s)
			}
		}
		if d := spec.LogDirectory; d != "" && (!filepath.IsAbs(d) || filepath.Clean(d) != d) {
			t.Errorf("accepted log directory %q", d)
		}
		for _, pm := range spec.PortMappings {
			if err := pm.Validate(); err != nil {
				t.Errorf("accepted port mapping %+v: %v", pm, err)
			}
			if pm.HostIP != "" {
				if _, err := netip.ParseAddr(pm.HostIP); err != nil {
					t.Errorf("accepted host IP %q", pm.HostIP)
				}
			}
		}
		if err := sandbox.ValidateSysctls(&spec); err != nil {
			t.Errorf("accepted sysctls the sandbox refuses: %v", err)
		}
		for _, v := range spec.Sysctls {
			if strings.ContainsAny(v, "\n\x00") {
				t.Errorf("accepted sysctl value %q", v)
			}
		}
	})
}
