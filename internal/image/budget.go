package image

import "time"

// PullBudget is a registry's pull budget as its last manifest response
// stated it: Docker Hub, and registries that copy it, send
// "ratelimit-limit: 100;w=21600" and "ratelimit-remaining: 76;w=21600" on
// manifest GETs and HEADs (a HEAD is not counted, but says what is left).
// The budget is per client address for anonymous pulls and per account
// for authenticated ones, so it is kept per credential kind, never per
// identity.
type PullBudget struct {
	// Host is the registry host, canonical (CanonicalHost).
	Host string
	// Authenticated says whether the request carried a credential.
	Authenticated bool
	// Limit and Remaining are pulls per Window (0: not stated).
	Limit, Remaining int
	Window           time.Duration
	// Seen is when the response came.
	Seen time.Time
}

// Kind is "authenticated" or "anonymous", for metric labels and messages.
func (b PullBudget) Kind() string {
	if b.Authenticated {
		return "authenticated"
	}
	return "anonymous"
}

// Below says whether less than percent of the budget is left.
func (b PullBudget) Below(percent int) bool {
	return b.Limit > 0 && b.Remaining*100 < percent*b.Limit
}
