package config

import "os"

// EffectiveCgroupDriver resolves "auto" to systemd when PID 1 is systemd,
// detected the way sd_booted(3) does, and to cgroupfs otherwise.
func (c *Config) EffectiveCgroupDriver() string {
	if c.Cgroup.Driver != CgroupDriverAuto {
		return c.Cgroup.Driver
	}
	if fi, err := os.Lstat("/run/systemd/system"); err == nil && fi.IsDir() {
		return CgroupDriverSystemd
	}
	return CgroupDriverCgroupfs
}
