package errdefs

import (
	"fmt"
	"testing"
)

// Every class survives the trip through its text, wrapped or not, and an
// error of no class or an unknown text gives none.
func TestClassRoundTrip(t *testing.T) {
	for _, c := range classes {
		err := fmt.Errorf("pull x: %w", c)
		if got := ClassNamed(ClassOf(err).Error()); got != c {
			t.Errorf("%v: round trip gave %v", c, got)
		}
	}
	if got := ClassOf(InvalidField("a", "b")); got != ErrInvalidArgument {
		t.Errorf("field error: class %v", got)
	}
	if got := ClassOf(fmt.Errorf("plain")); got != nil {
		t.Errorf("plain error: class %v", got)
	}
	if got := ClassNamed("no such class"); got != nil {
		t.Errorf("unknown text: class %v", got)
	}
}
