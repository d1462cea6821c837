package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// Where critest's images live upstream. Each is pushed to the loopback
// registry under "<registry host>/<path>", and registries.conf maps the
// host to that namespace.
const (
	e2eImages = "registry.k8s.io/e2e-test-images/"
	criTools  = "gcr.io/k8s-staging-cri-tools/"
)

// epoch keeps built images reproducible.
var epoch = time.Unix(1700000000, 0)

// Users and groups the image specs look for (critest's
// pkg/validate/consts.go): www-data by name, and default-user (uid 1000)
// whose supplementary group 50000 is defined only in the image.
const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"www-data:x:33:33:www-data:/var/www:/bin/false\n" +
		"default-user:x:1000:1000:default-user:/home/default-user:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group = "root:x:0:\n" +
		"www-data:x:33:\n" +
		"default-user:x:1000:\n" +
		"group-defined-in-image:x:50000:default-user\n" +
		"nogroup:x:65534:\n"
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

// webServer is the script run as the web server images' entrypoint: busybox
// httpd serving an index page on port. The script's own process carries
// name (a script's process is named after its file), writes its pid to
// /var/run/NAME.pid and logs NAME, as the specs expect of nginx and httpd.
func webServer(name string, port int) string {
	return fmt.Sprintf(`#!/bin/sh
echo "%[1]s: serving /www on port %[2]d"
echo $$ >/var/run/%[1]s.pid
httpd -f -p %[2]d -h /www &
trap 'kill $!; exit 0' TERM INT
wait
`, name, port)
}

// image is one image to push and the references it is pushed under.
type image struct {
	refs []string
	img  v1.Image
}

// spec describes one image of critest's: busybox plus, when set, a default
// user, or a web server entrypoint named server listening on port.
type spec struct {
	refs   []string
	user   string
	server string
	port   int
	// nonewprivs makes the entrypoint the nonewprivs program, set-user-ID
	// root.
	nonewprivs bool
}

// specs are every image critest pulls, except the one pinned by a digest
// that only the upstream content has. Different specs are different images
// (specs remove images by id); the references of one spec share an image.
func specs(arch string) []spec {
	return []spec{
		// The default container image, and a newer tag of it.
		{refs: []string{e2eImages + "busybox:1.29-2"}},
		{refs: []string{e2eImages + "busybox:1.36.1-1"}},
		// Port mapping, port-forward and host-PID specs: a web server on 80.
		{refs: []string{e2eImages + "nginx:1.14-2"}, server: "nginx", port: 80},
		// The multi-container spec: a web server on 80 that logs "httpd".
		{refs: []string{e2eImages + "httpd:2.4.39-4"}, server: "httpd", port: 80},
		// The host-network port-forward spec: a web server on 12003.
		{refs: []string{criTools + "hostnet-nginx-" + arch + ":latest"}, server: "nginx", port: 12003},
		{refs: []string{criTools + "test-image-latest:latest"}},
		{refs: []string{criTools + "test-image-tag:test"}},
		{refs: []string{criTools + "test-image-tag:all"}},
		{refs: []string{criTools + "test-image-1:latest"}},
		{refs: []string{criTools + "test-image-2:latest"}},
		{refs: []string{criTools + "test-image-3:latest"}},
		{refs: []string{criTools + "test-image-tags:1", criTools + "test-image-tags:2", criTools + "test-image-tags:3"}},
		{refs: []string{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"}},
		{refs: []string{criTools + "test-image-user-uid:latest"}, user: "1002"},
		{refs: []string{criTools + "test-image-user-username:latest"}, user: "www-data"},
		{refs: []string{criTools + "test-image-user-uid-group:latest"}, user: "1003:1003"},
		{refs: []string{criTools + "test-image-user-username-group:latest"}, user: "www-data:www-data"},
		{refs: []string{criTools + "test-image-predefined-group:latest"}, user: "1000"},
		// The no_new_privs specs: prints the effective uid of a
		// set-user-ID root program.
		{refs: []string{e2eImages + "nonewprivs:1.3"}, nonewprivs: true},
	}
}

// images builds every image of specs for arch; nonewprivs is the
// nonewprivs program built for arch.
func images(arch string, nonewprivs []byte) ([]image, error) {
	base, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	var out []image
	for _, s := range specs(arch) {
		img, err := s.build(arch, base, nonewprivs)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", s.refs[0], err)
		}
		out = append(out, image{refs: s.refs, img: img})
	}
	return out, nil
}

// build makes s's image: base and a layer naming the image (so that images
// of different specs differ) with the web server's files.
func (s spec) build(arch string, base v1.Layer, nonewprivs []byte) (v1.Image, error) {
	cfg := v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, User: s.user}
	files := []testregistry.File{{Name: "etc/critest-image", Body: []byte(s.refs[0] + "\n")}}
	if s.nonewprivs {
		cfg.Cmd = []string{"/usr/bin/nonewprivs"}
		files = append(files, testregistry.File{Name: "usr/bin/nonewprivs", Mode: 0o4755, Body: nonewprivs})
	}
	if s.server != "" {
		// nginx's main process calls itself "nginx: master process"; the
		// argument puts those words where the specs look: /proc/1/cmdline.
		cfg.Cmd = []string{"/usr/sbin/" + s.server, "master process"}
		cfg.ExposedPorts = map[string]struct{}{fmt.Sprintf("%d/tcp", s.port): {}}
		files = append(files,
			testregistry.File{Name: "usr/sbin/" + s.server, Mode: 0o755, Body: []byte(webServer(s.server, s.port))},
			testregistry.File{Name: "www/", Dir: true},
			testregistry.File{Name: "www/index.html", Body: []byte("<html><body>" + s.server + "</body></html>\n")})
	}
	l, err := testregistry.Layer(files, testregistry.Gzip)
	if err != nil {
		return nil, err
	}
	return testregistry.Image(arch, cfg, base, l)
}

// busyboxLayer is Debian's static busybox with every applet it has linked
// where busybox installs it, the users and groups above, stand-ins for the
// applets Debian's busybox lacks, and the directories a shell and a web
// server need. The applets are hard links, as in busybox images, so that
// masking one (a masked path is a bind mount) leaves the others working.
func busyboxLayer() (v1.Layer, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("read busybox (Debian package busybox-static): %w", err)
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

// applets turns busybox --list-full output into the directories that hold
// the applets, parents first, and the applets' paths, leaving out busybox
// itself and the applets the image has stand-ins for.
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
