package resolve

import (
	"context"
	"sort"
	"strings"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/mod/semver"
)

// maxSuggestions is how many nearby tags a image.NotFound names.
const maxSuggestions = 3

// suggest lists ref's repository's tags, bounded in time (the suggestion
// budget, never past ctx) and count, and returns the ones nearest ref.Tag.
// Failing to list only means no suggestions.
func (r *Resolver) suggest(ctx context.Context, p *remote.Puller, ref image.Reference) []string {
	if r.suggestBudget <= 0 || ref.Tag == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.suggestBudget)
	defer cancel()
	repo, err := r.repository(ref)
	if err != nil {
		return nil
	}
	lister, err := p.Lister(ctx, repo)
	if err != nil {
		r.log.V(1).Info("cannot list tags for suggestions", "repository", ref.Repository, "class", classOf(err))
		return nil
	}
	var tags []string
	for lister.HasNext() && len(tags) < r.maxTags {
		page, err := lister.Next(ctx)
		if err != nil {
			break
		}
		tags = append(tags, page.Tags...)
	}
	if len(tags) > r.maxTags {
		tags = tags[:r.maxTags]
	}
	if near := nearestTags(ref.Tag, tags, maxSuggestions); len(near) > 0 || ref.Tag != "latest" {
		return near
	}
	// Nothing is spelled like "latest": the repository simply has no such
	// tag (common when CI pushes only versions), so offer its newest versions.
	return newestVersions(tags, maxSuggestions)
}

// newestVersions returns up to n tags that are semantic versions ("v1.2.3"
// or "1.2.3"), highest first.
func newestVersions(tags []string, n int) []string {
	canon := func(t string) string { return "v" + strings.TrimPrefix(t, "v") }
	var versions []string
	for _, t := range tags {
		if semver.IsValid(canon(t)) {
			versions = append(versions, t)
		}
	}
	sort.SliceStable(versions, func(i, j int) bool {
		return semver.Compare(canon(versions[i]), canon(versions[j])) > 0
	})
	if len(versions) > n {
		versions = versions[:n]
	}
	return versions
}

// nearestTags ranks tags by closeness to missing: tags extending it
// ("v1.2" → "v1.2.0") first, shortest first; then by edit distance, close
// ones only (at most a third of the longer tag, at least 2), so unrelated tags
// are never offered.
func nearestTags(missing string, tags []string, n int) []string {
	type cand struct {
		tag    string
		prefix bool
		dist   int
	}
	var cands []cand
	seen := map[string]bool{}
	for _, t := range tags {
		if t == missing || t == "" || seen[t] {
			continue
		}
		seen[t] = true
		if strings.HasPrefix(t, missing) {
			cands = append(cands, cand{tag: t, prefix: true, dist: len(t) - len(missing)})
			continue
		}
		limit := max(2, max(len(t), len(missing))/3)
		if abs(len(t)-len(missing)) > limit {
			continue
		}
		if d := editDistance(missing, t); d <= limit {
			cands = append(cands, cand{tag: t, dist: d})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.prefix != b.prefix {
			return a.prefix
		}
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		return a.tag < b.tag
	})
	var out []string
	for _, c := range cands[:min(n, len(cands))] {
		out = append(out, c.tag)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the Levenshtein distance of two tags (ASCII by grammar).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
