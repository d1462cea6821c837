package spec

import (
	"maps"
	"testing"
)

func TestBuildAnnotations(t *testing.T) {
	c := testContainer(t, func(c *Container) {
		c.Config.Annotations = map[string]string{"team": "a", AnnotationSandboxID: "spoofed"}
	})
	s, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"team":                     "a",
		AnnotationContainerType:    "container",
		AnnotationContainerName:    "app",
		AnnotationSandboxID:        "p1",
		AnnotationSandboxName:      "pod",
		AnnotationSandboxNamespace: "default",
		AnnotationSandboxUID:       "uid-1",
		AnnotationImageName:        "busybox",
		AnnotationImageID:          "sha256:0123",
	}
	if !maps.Equal(s.Annotations, want) {
		t.Errorf("annotations %v, want %v", s.Annotations, want)
	}
	if c.Config.Annotations[AnnotationSandboxID] != "spoofed" {
		t.Error("Build changed the config's annotations")
	}
}
