package main

import (
	"fmt"

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
func images(arch string, nonewprivs []byte) ([]testregistry.Named, error) {
	base, err := testregistry.FullBusyboxLayer(passwd, group, false)
	if err != nil {
		return nil, err
	}
	var out []testregistry.Named
	for _, s := range specs(arch) {
		img, err := s.build(arch, base, nonewprivs)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", s.refs[0], err)
		}
		out = append(out, testregistry.Named{Refs: s.refs, Image: img})
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
			testregistry.File{Name: "usr/sbin/" + s.server, Mode: 0o755, Body: []byte(testregistry.WebServerScript(s.server, s.port))},
			testregistry.File{Name: "www/", Dir: true},
			testregistry.File{Name: "www/index.html", Body: []byte("<html><body>" + s.server + "</body></html>\n")})
	}
	l, err := testregistry.Layer(files, testregistry.Gzip)
	if err != nil {
		return nil, err
	}
	return testregistry.Image(arch, cfg, base, l)
}
