package resolve

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/pullguard/pullguard/internal/registrytest"
)

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		n      int
		window time.Duration
		ok     bool
	}{
		{"100;w=21600", 100, 6 * time.Hour, true},
		{" 76 ; w=21600 ", 76, 6 * time.Hour, true},
		{"0;w=60", 0, time.Minute, true},
		{"5000", 5000, 0, true},
		{"100;w=soon", 100, 0, true},
		{"", 0, 0, false},
		{"many;w=60", 0, 0, false},
		{"-1;w=60", 0, 0, false},
	} {
		n, w, ok := parseRateLimit(tc.in)
		if n != tc.n || w != tc.window || ok != tc.ok {
			t.Errorf("parseRateLimit(%q) = %d, %s, %t; want %d, %s, %t", tc.in, n, w, ok, tc.n, tc.window, tc.ok)
		}
	}
}

// TestBudgetsFromManifestResponses: the budget a registry states on its
// manifest responses is kept per host and credential kind (HEAD for a tag
// included), observed, and forgotten once its window has passed.
func TestBudgetsFromManifestResponses(t *testing.T) {
	t.Parallel()
	public := registrytest.New(t)
	public.PushImage(t, "app:v1", linuxAMD64)
	public.SetPullBudget(100, 7)
	private := registrytest.New(t, registrytest.WithBasicAuth("bot", "pw-bot"))
	private.PushImage(t, "app:v1", linuxAMD64)
	private.SetPullBudget(200, 150)

	var seen []Budget
	budgets := NewBudgets(func(b Budget) { seen = append(seen, b) })
	r := New(WithTransport(budgets.Transport(remote.DefaultTransport)), WithInsecureRegistries(public.Host, private.Host))
	ctx := context.Background()
	if _, err := r.Resolve(ctx, Request{Ref: parsed(t, public.Ref("app:v1"))}); err != nil {
		t.Fatal(err)
	}
	creds := secretsFor(t, private.Host, "bot")
	if _, err := r.Resolve(ctx, Request{Ref: parsed(t, private.Ref("app:v1")), Credentials: creds}); err != nil {
		t.Fatal(err)
	}
	ignore := cmpopts.IgnoreFields(Budget{}, "Seen")
	want := Budget{Host: public.Host, Limit: 100, Remaining: 7, Window: 6 * time.Hour}
	if got, ok := budgets.Get(public.Host, false); !ok || !cmp.Equal(got, want, ignore) {
		t.Errorf("anonymous budget of %s: %+v, %t; want %+v", public.Host, got, ok, want)
	}
	if !want.Below(10) || want.Below(5) {
		t.Errorf("7 of 100 left: Below(10) %t, Below(5) %t; want true, false", want.Below(10), want.Below(5))
	}
	wantPriv := Budget{Host: private.Host, Authenticated: true, Limit: 200, Remaining: 150, Window: 6 * time.Hour}
	if got, ok := budgets.Get(private.Host, true); !ok || !cmp.Equal(got, wantPriv, ignore) {
		t.Errorf("authenticated budget of %s: %+v, %t; want %+v", private.Host, got, ok, wantPriv)
	}
	if _, ok := budgets.Get(private.Host, false); ok {
		t.Errorf("an anonymous budget of %s was recorded, but only authenticated requests got answers", private.Host)
	}
	if len(seen) == 0 {
		t.Error("the observer saw no budget")
	}
	budgets.now = func() time.Time { return time.Now().Add(7 * time.Hour) }
	if got, ok := budgets.Get(public.Host, false); ok {
		t.Errorf("a budget past its 6h window is still served: %+v", got)
	}
}

func parsed(t *testing.T, s string) image.Reference {
	t.Helper()
	ref, err := image.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
