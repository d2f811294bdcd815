package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchCABundles sets bundle as the caBundle of every webhook of the named
// Mutating and Validating configurations, patching only those that differ.
// A configuration that does not exist is skipped: the chart may install
// only one kind.
func patchCABundles(ctx context.Context, c client.Client, names []string, bundle []byte, log logr.Logger) error {
	var errs []error
	for _, name := range names {
		for _, k := range configurationKinds {
			if err := patchCABundle(ctx, c, k.kind, k.newObj, name, bundle, log); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// configurationKinds are the two kinds sharing a configuration name, as
// patched here and watched by the Runnable.
var configurationKinds = []struct {
	kind    string
	newObj  func() client.Object
	newList func() client.ObjectList
}{
	{"MutatingWebhookConfiguration",
		func() client.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
		func() client.ObjectList { return &admissionregistrationv1.MutatingWebhookConfigurationList{} }},
	{"ValidatingWebhookConfiguration",
		func() client.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
		func() client.ObjectList { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} }},
}

func patchCABundle(ctx context.Context, c client.Client, kind string, newObj func() client.Object, name string, bundle []byte, log logr.Logger) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := newObj()
		err := c.Get(ctx, client.ObjectKey{Name: name}, obj)
		if apierrors.IsNotFound(err) {
			log.V(1).Info("no such webhook configuration; not patching its caBundle", "kind", kind, "name", name)
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s %q: %w", kind, name, err)
		}
		orig := obj.DeepCopyObject().(client.Object)
		changed := 0
		for _, cc := range clientConfigs(obj) {
			if !bytes.Equal(cc.CABundle, bundle) {
				cc.CABundle = bundle
				changed++
			}
		}
		if changed == 0 {
			return nil
		}
		// The optimistic lock makes a concurrent edit of the webhooks list
		// (a merge patch replaces the whole list) a conflict, retried on a
		// fresh read, instead of a lost update.
		patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
		if err := c.Patch(ctx, obj, patch); err != nil {
			return fmt.Errorf("patch caBundle of %s %q: %w", kind, name, err)
		}
		log.Info("patched caBundle", "kind", kind, "name", name, "webhooks", changed)
		return nil
	})
}

// clientConfigs points into obj's webhooks' client configurations.
func clientConfigs(obj client.Object) []*admissionregistrationv1.WebhookClientConfig {
	var out []*admissionregistrationv1.WebhookClientConfig
	switch o := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range o.Webhooks {
			out = append(out, &o.Webhooks[i].ClientConfig)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range o.Webhooks {
			out = append(out, &o.Webhooks[i].ClientConfig)
		}
	}
	return out
}
