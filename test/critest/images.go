package main

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// Where critest's images live upstream. Each is pushed to the loopback
// registry under "<registry host>/<path>", and registries.conf maps the
// host to that namespace.
const (
	e2eImages = "registry.k8s.io/e2e-test-images/"
	criTools  = "gcr.io/k8s-staging-cri-tools/"
)

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
	}
}

// images builds every image of specs for arch.
func images(arch string) ([]image, error) {
	base, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	var out []image
	for _, s := range specs(arch) {
		img, err := s.build(arch, base)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", s.refs[0], err)
		}
		out = append(out, image{refs: s.refs, img: img})
	}
	return out, nil
}

// build makes s's image: base and a layer naming the image (so that images
// of different specs differ) with the web server's files.
func (s spec) build(arch string, base v1.Layer) (v1.Image, error) {
	cfg := v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, User: s.user}
	files := []testregistry.File{{Name: "etc/critest-image", Body: []byte(s.refs[0] + "\n")}}
	if s.server != "" {
		cfg.Cmd = []string{"/usr/sbin/" + s.server}
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
// where busybox installs it, the users and groups above, and the
// directories a shell and a web server need.
func busyboxLayer() (v1.Layer, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("read busybox (Debian package busybox-static): %w", err)
	}
	list, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	files := []testregistry.File{
		{Name: "etc/passwd", Body: []byte(passwd)},
		{Name: "etc/group", Body: []byte(group)},
		{Name: "bin/busybox", Mode: 0o755, Body: bin},
	}
	files = append(files, applets(string(list))...)
	dirs := []testregistry.File{{Name: "tmp/", Dir: true, Mode: 0o1777}}
	for _, d := range []string{"bin", "etc", "root", "home/default-user", "var/run", "var/www"} {
		dirs = append(dirs, testregistry.File{Name: d + "/", Dir: true})
	}
	return testregistry.Layer(append(dirs, files...), testregistry.Gzip)
}

// applets turns busybox --list-full output into symlinks to /bin/busybox,
// after the directories that hold them.
func applets(list string) []testregistry.File {
	var dirs, links []testregistry.File
	seen := map[string]bool{"bin": true}
	for _, p := range strings.Fields(list) {
		if p == "bin/busybox" || !strings.Contains(p, "/") {
			continue
		}
		var parents []string
		for d := path.Dir(p); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			parents = append(parents, d)
		}
		for _, d := range slices.Backward(parents) {
			dirs = append(dirs, testregistry.File{Name: d + "/", Dir: true})
		}
		links = append(links, testregistry.File{Name: p, Linkname: "/bin/busybox"})
	}
	return append(dirs, links...)
}
