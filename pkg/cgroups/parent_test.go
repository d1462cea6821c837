package cgroups

import (
	"errors"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestPodAndContainerCgroupsPath(t *testing.T) {
	tests := []struct {
		driver, parent   string
		pod, ctr, ctrRel string
	}{
		{
			driver: DriverCgroupfs, parent: "/kubepods/burstable/pod1234",
			pod: "/kubepods/burstable/pod1234", ctr: "/kubepods/burstable/pod1234/crisp-c1", ctrRel: "/kubepods/burstable/pod1234/crisp-c1",
		},
		{
			driver: DriverCgroupfs, parent: "",
			pod: "/crisp/pod-p1", ctr: "/crisp/pod-p1/crisp-c1", ctrRel: "/crisp/pod-p1/crisp-c1",
		},
		{
			driver: DriverSystemd, parent: "kubepods-burstable-pod1234.slice",
			pod: "kubepods-burstable.slice::kubepods-burstable-pod1234.slice",
			ctr: "kubepods-burstable-pod1234.slice:crisp:c1", ctrRel: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/crisp-c1.scope",
		},
		{
			// kubelet's systemd driver sends the slice expanded to its path.
			driver: DriverSystemd, parent: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice",
			pod: "kubepods-burstable.slice::kubepods-burstable-pod1234.slice",
			ctr: "kubepods-burstable-pod1234.slice:crisp:c1", ctrRel: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/crisp-c1.scope",
		},
		{
			driver: DriverSystemd, parent: "/kubepods.slice",
			pod: "-.slice::kubepods.slice", ctr: "kubepods.slice:crisp:c1", ctrRel: "/kubepods.slice/crisp-c1.scope",
		},
		{
			driver: DriverSystemd, parent: "kubepods.slice",
			pod: "-.slice::kubepods.slice", ctr: "kubepods.slice:crisp:c1", ctrRel: "/kubepods.slice/crisp-c1.scope",
		},
		{
			driver: DriverSystemd, parent: "",
			pod: "crisp.slice::crisp-podp1.slice", ctr: "crisp-podp1.slice:crisp:c1", ctrRel: "/crisp.slice/crisp-podp1.slice/crisp-c1.scope",
		},
	}
	for _, tt := range tests {
		pod, err := PodCgroupsPath(tt.driver, tt.parent, "p1")
		if err != nil || pod != tt.pod {
			t.Errorf("PodCgroupsPath(%s, %q) = %q, %v; want %q", tt.driver, tt.parent, pod, err, tt.pod)
		}
		ctr, err := ContainerCgroupsPath(tt.driver, tt.parent, "p1", "c1")
		if err != nil || ctr != tt.ctr {
			t.Errorf("ContainerCgroupsPath(%s, %q) = %q, %v; want %q", tt.driver, tt.parent, ctr, err, tt.ctr)
			continue
		}
		// The container cgroup must sit directly below the pod's.
		podLoc, err1 := parseCgroupsPath(pod)
		ctrLoc, err2 := parseCgroupsPath(ctr)
		if err1 != nil || err2 != nil || ctrLoc.rel != tt.ctrRel || ctrLoc.rel[:len(podLoc.rel)] != podLoc.rel {
			t.Errorf("pod %q -> %+v, container %q -> %+v (%v %v)", pod, podLoc, ctr, ctrLoc, err1, err2)
		}
	}
}

func TestCgroupParentMustMatchDriver(t *testing.T) {
	tests := []struct{ driver, parent string }{
		{DriverCgroupfs, "kubepods-burstable-pod1.slice"},
		{DriverSystemd, "/kubepods/burstable/pod1"},
		// A path is accepted only as a slice's own expansion.
		{DriverSystemd, "/kubepods.slice/kubepods-burstable-pod1.slice"},
		{DriverSystemd, "/system.slice/kubepods-pod1.slice"},
		{DriverSystemd, "/kubepods.slice/../kubepods.slice"},
		{DriverSystemd, "/"},
		{DriverCgroupfs, "kubepods/burstable"},
		{DriverCgroupfs, "/kubepods/../etc"},
		{DriverSystemd, "kubepods--x.slice"},
		{DriverSystemd, "-.slice"},
	}
	for _, tt := range tests {
		_, err := PodCgroupsPath(tt.driver, tt.parent, "p1")
		var fe *errdefs.FieldError
		if !errors.As(err, &fe) || fe.Field != cgroupParentField {
			t.Errorf("PodCgroupsPath(%s, %q) = %v, want a field error for %s", tt.driver, tt.parent, err, cgroupParentField)
		}
	}
	if _, err := PodCgroupsPath("auto", "/x", "p1"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unresolved driver accepted: %v", err)
	}
	for _, id := range []string{"", "a-b", "a/b", "a.b"} {
		if _, err := ContainerCgroupsPath(DriverSystemd, "", "p1", id); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("container id %q accepted: %v", id, err)
		}
	}
}
