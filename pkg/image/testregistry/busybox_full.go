package testregistry

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ipcs stands in for the ipcs applet, which Debian's busybox lacks and the
// IPC namespace specs run as "ipcs -m": it lists the shared memory segments
// this IPC namespace has.
const ipcs = `#!/bin/sh
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      bytes"
awk 'NR > 1 { print $1, $2, $8, $4 }' /proc/sysvipc/shm
`

// pgrep stands in for the pgrep applet, which Debian's busybox lacks and
// the exec timeout spec runs as "pgrep sleep": it prints the pids of the
// processes whose name matches the pattern.
const pgrep = `#!/bin/sh
status=1
for d in /proc/[0-9]*; do
	name=$(cat "$d/comm" 2>/dev/null) || continue
	case $name in pgrep) continue ;; esac
	echo "$name" | grep -q -- "$1" && echo "${d#/proc/}" && status=0
done
exit $status
`

// FullBusyboxLayer is Debian's static busybox with every applet it has
// linked where busybox installs it, /etc/passwd and /etc/group as given,
// stand-ins for the applets Debian's busybox lacks (ipcs, pgrep), and the
// directories a shell and a web server need: the base of the images that
// stand in for Kubernetes' e2e test images. The applets are hard links, as
// in busybox images, so that masking one (a masked path is a bind mount)
// leaves the others working.
//
// With alsoInBin, every applet is in /bin too, as in the busybox images of
// Docker and Kubernetes' e2e tests, whose scripts run /bin/sysctl or
// /bin/env.
func FullBusyboxLayer(passwd, group string, alsoInBin bool) (v1.Layer, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoBusybox, err)
	}
	list, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	dirs, links := applets(string(list))
	entries := []*tar.Header{{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}}
	for _, d := range append([]string{"bin", "etc", "root", "home", "home/default-user", "var", "var/run", "var/www"}, dirs...) {
		entries = append(entries, &tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	}
	bodies := map[string][]byte{
		"etc/passwd":    []byte(passwd),
		"etc/group":     []byte(group),
		"bin/busybox":   bin,
		"usr/bin/ipcs":  []byte(ipcs),
		"usr/bin/pgrep": []byte(pgrep),
	}
	for _, name := range []string{"etc/passwd", "etc/group", "bin/busybox", "usr/bin/ipcs", "usr/bin/pgrep"} {
		mode := int64(0o755)
		if strings.HasPrefix(name, "etc/") {
			mode = 0o644
		}
		entries = append(entries, &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(bodies[name]))})
	}
	for _, l := range links {
		// Extraction applies a link's mode to the inode it shares.
		entries = append(entries, &tar.Header{Name: l, Typeflag: tar.TypeLink, Linkname: "bin/busybox", Mode: 0o755})
	}
	if alsoInBin {
		extra := appletsInBin(links)
		for _, name := range slices.Sorted(maps.Keys(extra)) {
			entries = append(entries, &tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: extra[name], Mode: 0o755})
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h.ModTime = epoch
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(bodies[h.Name]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithCompressedCaching)
}

// appletsInBin returns a hard link bin/NAME, and its target, for each
// applet and stand-in outside bin.
func appletsInBin(links []string) map[string]string {
	have := map[string]bool{"bin/busybox": true}
	for _, l := range links {
		have[l] = true
	}
	out := map[string]string{}
	add := func(name, target string) {
		if b := "bin/" + path.Base(name); !have[b] {
			have[b] = true
			out[b] = target
		}
	}
	for _, l := range links {
		add(l, "bin/busybox")
	}
	add("usr/bin/ipcs", "usr/bin/ipcs")
	add("usr/bin/pgrep", "usr/bin/pgrep")
	return out
}

// applets turns busybox --list-full output into the directories that hold
// the applets, parents first, and the applets' paths, leaving out busybox
// itself and the applets the layer has stand-ins for.
func applets(list string) (dirs, links []string) {
	seen := map[string]bool{"bin": true, "usr/bin": true, "usr": true}
	dirs = []string{"usr", "usr/bin"}
	for _, p := range strings.Fields(list) {
		if p == "bin/busybox" || p == "usr/bin/ipcs" || p == "usr/bin/pgrep" || !strings.Contains(p, "/") {
			continue
		}
		var parents []string
		for d := path.Dir(p); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			parents = append(parents, d)
		}
		for _, d := range slices.Backward(parents) {
			dirs = append(dirs, d)
		}
		links = append(links, p)
	}
	return dirs, links
}

// WebServerScript is a script for an image's entrypoint that stands in for
// a web server: busybox httpd serving /www on port. The script's own
// process carries name (a script's process is named after its file),
// writes its pid to /var/run/NAME.pid and logs NAME, as tests expect of
// nginx and httpd.
func WebServerScript(name string, port int) string {
	return fmt.Sprintf(`#!/bin/sh
echo "%[1]s: serving /www on port %[2]d"
echo $$ >/var/run/%[1]s.pid
httpd -f -p %[2]d -h /www &
trap 'kill $!; exit 0' TERM INT
wait
`, name, port)
}
