package policies

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/workload"
)

// The texts of findings: a sentence saying what is wrong and what the
// registry answered, and a fix taken from what actually resolves each kind
// of ImagePullBackOff.

func subject(r *Result) string {
	return fmt.Sprintf("container %q: image %q", r.Use.Container, r.Use.Image)
}

// hubSubject is subject, saying what an image written without a registry
// means when the registry could not find it or refused it: Docker Hub.
func hubSubject(r *Result) string {
	if !r.Ref.RegistryImplied() {
		return subject(r)
	}
	return fmt.Sprintf("%s (no registry written, so Docker Hub: %q)", subject(r), r.Ref.String())
}

// because is ": reason" when the reason is known.
func because(rerr *image.Error) string {
	if rerr == nil || rerr.Reason == "" {
		return ""
	}
	return ": " + rerr.Reason
}

func invalidText(r *Result, rerr *image.Error) (string, string) {
	return subject(r) + " is not a valid image reference" + because(rerr),
		`write it as [registry/]repository[:tag][@sha256:digest], repository in lower case, e.g. "ghcr.io/acme/api:v1.2.0"`
}

func latestText(r *Result, implicit bool) (string, string) {
	msg := subject(r) + ` uses the tag "latest", which can move to another image or vanish at any time`
	if implicit {
		msg = subject(r) + ` names no tag, so the kubelet pulls ":latest", which can move to another image or vanish at any time`
	}
	fix := "name an explicit version tag, or a digest"
	if r.Facts != nil && r.Facts.Digest.Hex != "" {
		fix = fmt.Sprintf("name an explicit version tag, or pin the digest it has now: %q",
			r.Ref.Pinned(r.Facts.Digest, false))
	}
	return msg, fix
}

func notAllowedText(r *Result, p *Policy) (string, string) {
	return fmt.Sprintf("%s comes from registry %q, which image policy %q does not allow (allowed: %s)",
			subject(r), r.Ref.Registry, p.name, p.allowedText),
		"copy the image to an allowed registry (e.g. crane copy SOURCE DESTINATION) and use that reference"
}

func registryErrorText(r *Result, rerr *image.Error, obj workload.Object) (string, string) {
	reg := rerr.Registry
	if reg == "" {
		reg = r.Ref.Registry
	}
	switch rerr.Class {
	case image.NotFound:
		return notFoundText(r, rerr)
	case image.Unauthorized:
		if errors.Is(rerr, image.ErrUnreadablePullSecret) {
			return unreadableSecretText(r, rerr)
		}
		if refused := refusedCredentials(rerr); len(refused) > 0 {
			return fmt.Sprintf("%s: registry %q refused the credentials it was given%s (%s)",
					hubSubject(r), reg, because(rerr), credentialsTried(r, rerr, reg)),
				fmt.Sprintf("the registry does not accept the user name and password or token of %s (wrong, expired or revoked, or for another registry): "+
					"put valid ones in it (kubectl create secret docker-registry NAME --docker-server=%s --docker-username=USER --docker-password=TOKEN%s --dry-run=client -o yaml | kubectl apply -f -)",
					strings.Join(refused, ", "), reg, namespaceFlag(obj))
		}
		return fmt.Sprintf("%s: registry %q refused to serve it without valid credentials%s (%s)",
				hubSubject(r), reg, because(rerr), credentialsTried(r, rerr, reg)),
			fmt.Sprintf("create a pull secret (kubectl create secret docker-registry regcred --docker-server=%s --docker-username=USER --docker-password=TOKEN%s) and list it in the pod's imagePullSecrets or in service account %q's",
				reg, namespaceFlag(obj), serviceAccount(r.Use.Pod))
	case image.Forbidden:
		return fmt.Sprintf("%s: registry %q denied the credentials access to the repository%s (%s)",
				hubSubject(r), reg, because(rerr), credentialsTried(r, rerr, reg)),
			fmt.Sprintf("grant the account of the pull secret read access to %q, or use a pull secret of an account that has it", r.Ref.Repository)
	case image.RateLimited:
		return fmt.Sprintf("%s: registry %q rate-limited the lookup%s", subject(r), reg, because(rerr)),
			"authenticate pulls with a pull secret (kubectl create secret docker-registry), or pull through a mirror (ImagePolicy spec.mirrors)"
	case image.AddressBlocked:
		return fmt.Sprintf("%s: registry %q is on an address pullguard may not dial%s", subject(r), reg, because(rerr)),
			"use a registry on a routable address, or allow loopback or private addresses in the ImagePolicy's spec.network"
	case image.RegistryNotAllowed:
		return fmt.Sprintf("%s: registry %q is not allowed%s", subject(r), reg, because(rerr)),
			"copy the image to an allowed registry and use that reference"
	default: // Unreachable and any class added later
		if errors.Is(rerr, image.ErrCredentialProviderFailed) {
			return fmt.Sprintf("%s could not be verified: %s, and registry %q refused the lookup without its credentials (%s)",
					subject(r), rerr.Reason, reg, credentialsTried(r, rerr, reg)),
				"check that pullguard can run the credential provider as the nodes do: its executable in --image-credential-provider-bin-dir, and the cloud identity of pullguard's pod (IRSA, workload identity)"
		}
		if errors.Is(rerr, image.ErrUnknownAuthority) {
			return fmt.Sprintf("%s: registry %q could not be verified%s", subject(r), reg, because(rerr)),
				fmt.Sprintf("give pullguard the CA that signed %q's certificate (--registry-ca-file; the chart's registries.caConfigMap), "+
					"and make the nodes trust it too (containerd: /etc/containerd/certs.d/%s/ca.crt, or the nodes' system CA store), or the kubelet fails the pull with the same x509 error", reg, reg)
		}
		return fmt.Sprintf("%s: registry %q could not be reached%s", subject(r), reg, because(rerr)),
			fmt.Sprintf("check that nodes can resolve and reach %q (DNS, firewall, proxy, CA certificates)", reg)
	}
}

// unreadableSecretText: the kubelet decodes all of a pod's pull secrets
// before every pull and fails the pull when one does not decode, whatever
// the registry, so the pod cannot start until the secret is fixed.
func unreadableSecretText(r *Result, rerr *image.Error) (string, string) {
	return fmt.Sprintf("%s would not be pulled: %s, so the kubelet fails every image pull of the pod", subject(r), rerr.Reason),
		"recreate the pull secret (kubectl create secret docker-registry NAME --docker-server=... --docker-username=... --docker-password=...), or remove it from the pod's imagePullSecrets"
}

func notFoundText(r *Result, rerr *image.Error) (string, string) {
	msg := hubSubject(r) + " not found" + because(rerr)
	if len(rerr.Suggestions) > 0 {
		msg += " (tags nearby: " + strings.Join(rerr.Suggestions, ", ") + ")"
		return msg, fmt.Sprintf("use an existing tag such as %q", r.Ref.WrittenName()+":"+rerr.Suggestions[0])
	}
	if r.Ref.Digest != "" {
		return msg, "pin a digest that was pushed to this repository (crane digest IMAGE:TAG prints it)"
	}
	return msg, "check the repository and tag for typos, and that the image was pushed before deploying"
}

// refusedCredentials are the sources of the credentials the registry
// answered 401 to: they exist, and their secret is what is wrong.
func refusedCredentials(rerr *image.Error) []string {
	var out []string
	for _, a := range rerr.Tried {
		if a.Class == image.Unauthorized {
			out = append(out, a.Source)
		}
	}
	return out
}

// credentialsTried names every credential tried for the image, in the
// kubelet's order, with what each got, then what the pod names but gave
// nothing (any of it might have been meant for the registry); or, when no
// credential matched, what the pod names, so the reader can tell a missing
// secret from a wrong one. Never a credential's content: sources only.
func credentialsTried(r *Result, rerr *image.Error, registry string) string {
	parts := make([]string, 0, len(rerr.Tried)+len(r.SkippedCredentials))
	for _, a := range rerr.Tried {
		parts = append(parts, a.Source+" ("+a.Answer+")")
	}
	parts = append(parts, r.SkippedCredentials...)
	if len(parts) > 0 {
		return "credentials tried: " + strings.Join(parts, ", ")
	}
	pod := r.Use.Pod
	if pod == nil || len(pod.ImagePullSecrets) == 0 {
		return fmt.Sprintf("no credentials for %s were found; the pod names no imagePullSecrets and uses service account %q",
			registry, serviceAccount(pod))
	}
	return fmt.Sprintf("no credentials for %s were found; the pod names imagePullSecrets %s and uses service account %q",
		registry, strings.Join(pod.ImagePullSecrets, ", "), serviceAccount(pod))
}

func serviceAccount(pod *workload.PodContext) string {
	if pod == nil || pod.ServiceAccountName == "" {
		return "default"
	}
	return pod.ServiceAccountName
}

func namespaceFlag(obj workload.Object) string {
	if obj.Namespace == "" {
		return ""
	}
	return " -n " + obj.Namespace
}

func mismatchText(r *Result, cands []v1.Platform, failed []image.PlatformVerdict) (string, string) {
	var reasons []string
	for _, v := range failed {
		if v.Outcome == image.NoRunnable {
			return fmt.Sprintf("%s has no runnable image: %s", subject(r), v.Reason),
				"push the image again with its platform builds (docker buildx build --platform ... --push)"
		}
		if v.Reason != "" && !slices.Contains(reasons, v.Reason) {
			reasons = append(reasons, v.Reason)
		}
	}
	msg := fmt.Sprintf("%s has no build for any platform the pod can run on: it has %s, the pod needs %s",
		subject(r), platformList(r.Facts.Platforms), platformList(cands))
	if len(reasons) > 0 {
		msg += " (" + strings.Join(reasons, "; ") + ")"
	}
	return msg, buildFix(r.Facts.Platforms, cands)
}

// caveatText warns about a build containerd pulls that may not run.
func caveatText(r *Result, reason string) (string, string) {
	return fmt.Sprintf("%s may not run: %s", subject(r), reason),
		"build the image for the nodes' own platform (docker buildx build --platform ... --push)"
}

func partialText(r *Result, cands, sup []v1.Platform, failed []image.PlatformVerdict) (string, string) {
	missing := missingPlatforms(cands, sup)
	msg := fmt.Sprintf("%s runs on %s but not on %s, where the pod may also be scheduled",
		subject(r), platformList(sup), platformList(missing))
	fix := buildFix(r.Facts.Platforms, missing) + ", or set spec.platformAffinity in the ImagePolicy"
	if reasons := missingReasons(failed); len(reasons) > 0 {
		msg += " (" + strings.Join(reasons, "; ") + ")"
		fix = pushAgainFix + ", or set spec.platformAffinity in the ImagePolicy"
	}
	return msg, fix
}

// brokenText is an image whose every pull would fetch content its
// registry lost.
func brokenText(r *Result, failed []image.PlatformVerdict) (string, string) {
	return fmt.Sprintf("%s cannot be pulled: %s", subject(r), strings.Join(missingReasons(failed), "; ")), pushAgainFix
}

// pushAgainFix mends an image its registry holds only in part.
const pushAgainFix = "push the image again from a complete copy (docker push, or crane copy from another registry), or use a digest the registry holds in full"

// missingReasons are the distinct reasons of BuildMissing verdicts.
func missingReasons(failed []image.PlatformVerdict) []string {
	var out []string
	for _, v := range failed {
		if v.Outcome == image.BuildMissing && !slices.Contains(out, v.Reason) {
			out = append(out, v.Reason)
		}
	}
	return out
}

func noCommonText(r *Result, sup []v1.Platform) (string, string) {
	return fmt.Sprintf("%s runs only on %s, and no platform the pod can run on runs every image of the pod",
			subject(r), platformList(sup)),
		"build the pod's images for a common platform (docker buildx build --platform ... --push)"
}

// neverText is imagePullPolicy Never on nodes that lack the image.
func neverText(r *Result, h holders) (string, string) {
	msg := fmt.Sprintf("%s has imagePullPolicy Never, so the kubelet never pulls it, and %s of the nodes the pod can run on lists %q in its status.images; there the container fails with ErrImageNeverPull",
		subject(r), noneOrSome(h), r.Ref.LocalName())
	switch {
	case len(h.have) > 0:
		msg += fmt.Sprintf(" (nodes holding it: %s)", nodeList(h.have))
	case r.Facts != nil:
		msg += " (its registry has it, so a node may have pulled it for another pod before its status.images shows it)"
	}
	return msg, "load the image onto every node the pod can run on, schedule the pod on the nodes that hold it, or use imagePullPolicy IfNotPresent"
}

func noneOrSome(h holders) string {
	if len(h.have) == 0 && len(h.unknown) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d", len(h.lack))
}

// heldText adds, to a registry failure under IfNotPresent, which candidate
// nodes hold the image (the kubelet starts it there from the cache) or why
// their copy does not help.
func heldText(r *Result, c image.Class, h holders) string {
	if len(h.have) == 0 {
		return ""
	}
	if credentialsRechecked(c) {
		return fmt.Sprintf("; nodes %s hold the image, but the kubelet pulls again with the pod's credentials an image it pulled with a secret the pod lacks (KubeletEnsureSecretPulledImages)", nodeList(h.have))
	}
	return fmt.Sprintf("; %d of %d nodes the pod can run on hold it (%s) and would start it from their cache (imagePullPolicy IfNotPresent), the others pull and fail",
		len(h.have), len(r.Nodes), nodeList(h.have))
}

// nodeList names up to five nodes.
func nodeList(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
}

// buildFix suggests a multi-platform build, or pinning the pod to what the image has.
func buildFix(has, need []v1.Platform) string {
	all := append(slices.Clone(has), need...)
	var names []string
	for _, p := range all {
		// buildx takes no OS version.
		if s := image.PlatformName(v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}); !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	fix := fmt.Sprintf("build the image for every platform (docker buildx build --platform %s --push)", strings.Join(names, ","))
	if len(has) > 0 && has[0].OS != "" && has[0].Architecture != "" {
		fix += fmt.Sprintf(", or schedule the pod on nodes with kubernetes.io/os=%s and kubernetes.io/arch=%s", has[0].OS, has[0].Architecture)
	}
	return fix
}

func missingPlatforms(candidates, sup []v1.Platform) []v1.Platform {
	var out []v1.Platform
	for _, c := range candidates {
		if !slices.ContainsFunc(sup, func(s v1.Platform) bool { return image.SamePlatform(c, s) }) {
			out = append(out, c)
		}
	}
	return out
}

func platformList(ps []v1.Platform) string {
	var names []string
	for _, p := range ps {
		if s := image.PlatformName(p); !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return "no known platform"
	}
	return strings.Join(names, ", ")
}

// budgetText says how little of a registry's pull budget is left.
func budgetText(r *Result, b *image.PullBudget) (string, string) {
	window := ""
	switch {
	case b.Window > 0 && b.Window%time.Hour == 0:
		window = fmt.Sprintf(" per %dh", b.Window/time.Hour)
	case b.Window > 0:
		window = " per " + b.Window.String()
	}
	msg := fmt.Sprintf("container %q: image %q: registry %q has %d of %d %s pulls%s left: the pods' nodes may get 429 Too Many Requests",
		r.Use.Container, r.Use.Image, b.Host, b.Remaining, b.Limit, b.Kind(), window)
	fix := "pull through a mirror or cache of the registry, or with a pull secret of an account with a larger budget"
	if b.Authenticated {
		fix = "pull through a mirror or cache of the registry, or spread the pulls over more accounts"
	}
	return msg, fix
}
