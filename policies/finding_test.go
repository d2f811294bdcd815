package policies

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/pullguard/pullguard/internal/image"
)

func TestShort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    Finding
		want string
	}{{
		name: "fits",
		f:    Finding{Container: "api", Image: "ghcr.io/acme/api:v1.2", Class: image.NotFound},
		want: `pullguard: container "api": image "ghcr.io/acme/api:v1.2": not found in the registry; use an existing tag`,
	}, {
		name: "a summary of its own",
		f:    Finding{Container: "c", Image: "x:1", Class: image.NotFound, Summary: "pull policy Never"},
		want: `pullguard: container "c": image "x:1": pull policy Never`,
	}, {
		name: "unknown class",
		f:    Finding{Container: "c", Image: "x:1", Class: "Novel"},
		want: `pullguard: container "c": image "x:1": Novel`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.f.Short()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if n := utf8.RuneCountInString(got); n > MaxShortLength {
				t.Errorf("length %d > %d", n, MaxShortLength)
			}
		})
	}
}

func TestShortElidesLongImages(t *testing.T) {
	t.Parallel()
	long := "registry.example.com/" + strings.Repeat("team/", 20) + "api@sha256:" + strings.Repeat("0", 64)
	got := Finding{Container: "api", Image: long, Class: image.Unauthorized}.Short()
	const end = `000": registry wants credentials; add an imagePullSecret`
	if !strings.HasPrefix(got, `pullguard: container "api": image "registry.exampl`) || !strings.HasSuffix(got, end) ||
		!strings.Contains(got, "…") || utf8.RuneCountInString(got) != MaxShortLength {
		t.Errorf("Short() = %q (%d characters), want the image's start and end around an ellipsis in %d",
			got, utf8.RuneCountInString(got), MaxShortLength)
	}
}

// Every class's line fits for any image and container, however long or odd.
func FuzzShortFits(f *testing.F) {
	f.Add("api", "ghcr.io/acme/api:v1", "NotFound")
	f.Add(strings.Repeat("c", 63), strings.Repeat("é\x00", 200), "PlatformMismatch")
	f.Fuzz(func(t *testing.T, container, img, class string) {
		s := Finding{Container: container, Image: img, Class: image.Class(class)}.Short()
		if n := utf8.RuneCountInString(s); n > MaxShortLength {
			t.Fatalf("length %d > %d: %q", n, MaxShortLength, s)
		}
	})
}

func TestShortEveryClassHasText(t *testing.T) {
	t.Parallel()
	for _, c := range image.Classes {
		if shortText[c] == "" {
			t.Errorf("no short text for %s", c)
		}
	}
}
