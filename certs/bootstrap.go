package certs

import (
	"context"
	"errors"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Bootstrap makes sure the Secret holds a valid CA and serving certificate
// (creating it when absent, renewing the certificate within RenewBefore of
// its end or when the names changed, rotating the CA near its own end while
// the old one stays in the bundle), patches the CA bundle into every webhook
// of the named configurations where it differs, and writes tls.crt and
// tls.key into CertDir when they differ. Run it before the webhook server
// starts, which needs the files.
//
// c must read the Secret from the API server, not from a cache restricted
// to other Secrets (use a client from client.New, or the manager's API
// reader wrapped in a client).
func Bootstrap(ctx context.Context, c client.Client, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	log := logf.FromContext(ctx).WithName("certs")
	data, err := ensureSecret(ctx, c, o, log)
	if err != nil {
		return err
	}
	// The bundle goes out before the files: a replica serving a
	// certificate from a new CA is then already trusted. A failed patch
	// does not hold the files back: the Secret already has the new
	// certificate, and the webhook server cannot start without files.
	patchErr := patchCABundles(ctx, c, o.WebhookConfigurations, data[keyCA], log)
	changed, err := writeFiles(o.CertDir, data[keyCert], data[keyKey])
	if err != nil {
		err = fmt.Errorf("certificate directory %q: %w", o.CertDir, err)
	} else if changed {
		log.Info("wrote the serving certificate", "dir", o.CertDir)
	}
	return errors.Join(patchErr, err)
}
