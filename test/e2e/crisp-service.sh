# shellcheck shell=bash
# install_crisp_service BINARY [CONFLIST] installs crisp on a node as an
# admin would: BINARY as /usr/local/bin/crisp, with the crisp-image beside
# it, with the systemd cgroup
# driver, deploy/'s systemd unit and crictl.yaml, and the CNI configuration
# directory holding CONFLIST alone (or nothing: a network configured
# later), then starts the service and waits up to 60 s for it to answer
# CRI. For the scripts that run in the qemu guest (test/e2e/kubelet/run.sh,
# test/e2e/cluster/node.sh); they set REPO and define die and wait_for.
install_crisp_service() {
	local bin=$1 conflist=${2:-}
	# crisp pulls and loads images with the crisp-image beside it.
	install -m 0755 "$(dirname "$bin")/crisp-image" /usr/local/bin/crisp-image
	install -m 0755 "$bin" /usr/local/bin/crisp
	install -d /etc/crisp
	printf '[cgroup]\ndriver = "systemd"\nmount = "/sys/fs/cgroup"\n' >/etc/crisp/crisp.toml
	install -m 0644 "$REPO/deploy/systemd/crisp.service" /etc/systemd/system/crisp.service
	install -m 0644 "$REPO/deploy/crictl.yaml" /etc/crictl.yaml
	# The CNI plugins are shared from the host at /opt/cni/bin.
	rm -rf /etc/cni/net.d
	mkdir -p /etc/cni/net.d
	[ -z "$conflist" ] || install -m 0644 "$conflist" /etc/cni/net.d/
	[[ -x /opt/cni/bin/bridge && -x /opt/cni/bin/host-local ]] || die "no CNI plugins in /opt/cni/bin"
	modprobe -q br_netfilter 2>/dev/null || true
	systemctl daemon-reload
	systemctl start crisp
	wait_for 60 crictl version >/dev/null 2>&1 ||
		die "crisp did not answer on its socket within 60s: $(systemctl status crisp --no-pager 2>&1 | tail -5)"
}
