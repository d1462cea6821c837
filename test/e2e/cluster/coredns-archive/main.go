// Command coredns-archive writes an image of one static binary as a
// docker-archive, for `crisp images load` on a test cluster node, which
// reaches no registry. By default the binary is CoreDNS as
// hack/cluster/build.sh builds it (CGO_ENABLED=0), at /coredns, the image's
// entrypoint, as in CoreDNS's own image; the cluster's DNS add-on runs it
// with imagePullPolicy Never. Any other static binary makes an image as
// small (the nodes' image garbage collection test uses one).
//
// usage: coredns-archive [-ref REPO:TAG] [-binary FILE] [-name NAME] ARCHIVE
package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crisp-runtime/crisp/pkg/image/testregistry"
)

func main() {
	ref := flag.String("ref", "crisp.test/coredns:e2e", "reference the image is tagged with in the archive")
	binary := flag.String("binary", "/var/cache/crisp-cluster/bin/coredns", "static binary the image holds")
	name := flag.String("name", "coredns", "file name of the binary in the image's root, its entrypoint")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: coredns-archive [-ref REPO:TAG] [-binary FILE] [-name NAME] ARCHIVE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || path.Base(*name) != *name {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(flag.Arg(0), *ref, *binary, *name); err != nil {
		fmt.Fprintln(os.Stderr, "coredns-archive:", err)
		os.Exit(1)
	}
}

// write builds the image of binary, at /name and run as it, and writes it
// tagged ref to archive.
func write(archive, ref, binary, name string) error {
	body, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("read the binary: %w", err)
	}
	layer, err := testregistry.Layer([]testregistry.File{
		{Name: name, Mode: 0o755, Body: body},
		// CoreDNS reads its Corefile from a ConfigMap volume mounted here.
		{Name: "etc/", Dir: true},
		{Name: "tmp/", Dir: true, Mode: 0o1777},
	}, testregistry.Gzip)
	if err != nil {
		return fmt.Errorf("layer of %s: %w", binary, err)
	}
	img, err := testregistry.Image(runtime.GOARCH, v1.Config{Entrypoint: []string{"/" + name}}, layer)
	if err != nil {
		return fmt.Errorf("image of %s: %w", binary, err)
	}
	if err := testregistry.WriteDockerArchive(archive, ref, img, false); err != nil {
		return fmt.Errorf("write %s: %w", archive, err)
	}
	return nil
}
