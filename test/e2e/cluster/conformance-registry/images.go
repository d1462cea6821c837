package main

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

// Where the images live upstream (k8s.io/kubernetes/test/utils/image's
// manifest at v1.37.2).
const (
	gcRegistry = "registry.k8s.io/"
	e2eImages  = gcRegistry + "e2e-test-images/"
)

// The users and groups of agnhost's image, which tests of image-defined
// users and supplementary groups look for.
const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group = "root:x:0:\n" +
		"user-defined-in-image:x:1000:\n" +
		"group-defined-in-image:x:50000:user-defined-in-image\n" +
		"nogroup:x:65534:\n"
)

// osRelease is the image volume test's kitten image's /etc/os-release: the
// test reads "Alpine Linux" there, the base of the upstream image.
const osRelease = `NAME="crisp's stand-in for the kitten e2e test image"
PRETTY_NAME="crisp's stand-in for the kitten e2e test image (upstream: Alpine Linux)"
`

// curl stands in for the curl of agnhost's upstream image (Alpine's), which
// the lifecycle hook tests run as "curl http://IP:8080/echo?msg=...": one
// request through busybox wget, its body on standard output. Options it
// does not know are refused, never ignored.
const curl = `#!/bin/sh
out=- timeout=
while [ $# -gt 0 ]; do
	case $1 in
	-o | --output) out=$2; shift 2 ;;
	-m | --max-time | --connect-timeout) timeout=$2; shift 2 ;;
	-s | -S | -f | -L | -sS | -sf | -fsSL | --silent | --show-error | --fail | --location) shift ;;
	-*) echo "curl (a stand-in on busybox wget): $1 is not supported" >&2; exit 2 ;;
	*) url=$1; shift ;;
	esac
done
[ -n "$url" ] || { echo "curl (a stand-in on busybox wget): no URL" >&2; exit 2; }
exec wget -q ${timeout:+-T "$timeout"} -O "$out" "$url"
`

const path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// images builds every image the tests pull for arch, all but pause on
// busybox with sh as /bin/sh. Each differs from the others by a layer
// naming it, so that two tags are two images, as upstream.
// contents are the programs the images hold.
type contents struct {
	agnhost, pause, sh, nonewprivs []byte
}

func images(arch string, b contents) ([]testregistry.Named, error) {
	busybox, err := testregistry.FullBusyboxLayer(passwd, group, true)
	if err != nil {
		return nil, err
	}
	shell, err := testregistry.Layer([]testregistry.File{{Name: "bin/", Dir: true, Mode: 0o755}, {Name: "bin/sh", Mode: 0o755, Body: b.sh}}, testregistry.Gzip)
	if err != nil {
		return nil, err
	}
	agnhostFiles := []testregistry.File{
		{Name: "agnhost", Mode: 0o755, Body: b.agnhost},
		{Name: "agnhost-2", Linkname: "agnhost"},
		{Name: "uploads/", Dir: true, Mode: 0o755},
		{Name: "usr/", Dir: true, Mode: 0o755},
		{Name: "usr/bin/", Dir: true, Mode: 0o755},
		{Name: "usr/bin/curl", Mode: 0o755, Body: []byte(curl)},
	}
	nginxFiles := []testregistry.File{
		{Name: "usr/sbin/nginx", Mode: 0o755, Body: []byte(testregistry.WebServerScript("nginx", 80))},
		{Name: "www/", Dir: true},
		{Name: "www/index.html", Body: []byte("<html><body>nginx</body></html>\n")},
	}
	kittenFiles := []testregistry.File{
		{Name: "data.json", Body: []byte(`{"image": "kitten.jpg"}` + "\n")},
		{Name: "etc/os-release", Body: []byte(osRelease)},
	}
	specs := []struct {
		ref   string
		base  bool
		files []testregistry.File
		cfg   v1.Config
	}{
		{ref: e2eImages + "busybox:1.37.0-2", base: true, cfg: v1.Config{Cmd: []string{"sh"}, Env: []string{path}}},
		{ref: e2eImages + "agnhost:2.66.1", base: true, files: agnhostFiles,
			cfg: v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}, Env: []string{path}}},
		{ref: e2eImages + "agnhost:2.55", base: true, files: agnhostFiles,
			cfg: v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}, Env: []string{path}}},
		{ref: e2eImages + "nginx:1.27.0-2", base: true, files: nginxFiles,
			cfg: v1.Config{Cmd: []string{"/usr/sbin/nginx", "master process"}, Env: []string{path},
				ExposedPorts: map[string]struct{}{"80/tcp": {}}}},
		{ref: e2eImages + "kitten:1.8", base: true, files: kittenFiles, cfg: v1.Config{Cmd: []string{"sh"}, Env: []string{path}}},
		// The privilege escalation test: a set-user-ID root program that
		// prints its effective uid.
		{ref: e2eImages + "nonewprivs:1.4", base: true,
			files: []testregistry.File{{Name: "usr/", Dir: true, Mode: 0o755}, {Name: "usr/local/", Dir: true, Mode: 0o755},
				{Name: "usr/local/bin/", Dir: true, Mode: 0o755}, {Name: "usr/local/bin/nnp", Mode: 0o4755, Body: b.nonewprivs}},
			cfg: v1.Config{Cmd: []string{"/usr/local/bin/nnp"}, Env: []string{path}}},
		// The pause image runs as 65535, as upstream.
		{ref: gcRegistry + "pause:3.10.2", files: []testregistry.File{{Name: "pause", Mode: 0o755, Body: b.pause}},
			cfg: v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"}},
	}
	var out []testregistry.Named
	for _, s := range specs {
		files := append([]testregistry.File{{Name: "etc/", Dir: true}, {Name: "etc/e2e-image", Body: []byte(s.ref + "\n")}}, s.files...)
		top, err := testregistry.Layer(files, testregistry.Gzip)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", s.ref, err)
		}
		layers := []v1.Layer{top}
		if s.base {
			layers = []v1.Layer{busybox, shell, top}
		}
		img, err := testregistry.Image(arch, s.cfg, layers...)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", s.ref, err)
		}
		out = append(out, testregistry.Named{Refs: []string{s.ref}, Image: img})
	}
	return out, nil
}
