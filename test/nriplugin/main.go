// Command nriplugin is an NRI plugin for crisp's tests: pre-installed in
// the daemon's [nri] plugin_path, it is started by crisp and sets, in every
// container created, the environment variable its configuration (from
// plugin_config_path) names as NAME=VALUE.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	api "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

type plugin struct{ name, value string }

// Configure reads NAME=VALUE from the plugin's configuration.
func (p *plugin) Configure(_ context.Context, config, _, _ string) (api.EventMask, error) {
	name, value, ok := strings.Cut(strings.TrimSpace(config), "=")
	if !ok || name == "" {
		return 0, fmt.Errorf("configuration %q is not NAME=VALUE", config)
	}
	p.name, p.value = name, value
	return 0, nil
}

// CreateContainer sets the configured variable.
func (p *plugin) CreateContainer(_ context.Context, _ *api.PodSandbox, _ *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	a := &api.ContainerAdjustment{}
	a.AddEnv(p.name, p.value)
	return a, nil, nil
}

func main() {
	// crisp passes the name, index and connection in the environment.
	s, err := stub.New(&plugin{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := s.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
