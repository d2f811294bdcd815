package certs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// maxWriteAttempts bounds the get-decide-write loop when other replicas
// write the Secret at the same time; each lost race re-reads the winner's.
const maxWriteAttempts = 5

// ErrForeignSecret is returned when the Secret exists but is not a
// kubernetes.io/tls Secret: it is someone else's, and is never overwritten.
var ErrForeignSecret = errors.New("secret is not of type kubernetes.io/tls")

// ensureSecret makes the Secret hold a valid CA and serving certificate
// and returns its data.
func ensureSecret(ctx context.Context, c client.Client, o Options, log logr.Logger) (map[string][]byte, error) {
	key := client.ObjectKey{Namespace: o.Namespace, Name: o.SecretName}
	ref := key.String()
	for range maxWriteAttempts {
		var s corev1.Secret
		err := c.Get(ctx, key, &s)
		if apierrors.IsNotFound(err) {
			data, _, err := plan(nil, o, ref)
			if err != nil {
				return nil, err
			}
			s = corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.SecretName},
				Type:       corev1.SecretTypeTLS,
				Data:       data,
			}
			err = c.Create(ctx, &s)
			if apierrors.IsAlreadyExists(err) {
				log.V(1).Info("another replica created the certificate secret first; reading it", "secret", ref)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("create secret %q: %w", ref, err)
			}
			log.Info("created a self-signed CA and serving certificate", "secret", ref)
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get secret %q: %w", ref, err)
		}
		if s.Type != corev1.SecretTypeTLS {
			return nil, fmt.Errorf("secret %q has type %q: %w", ref, s.Type, ErrForeignSecret)
		}
		data, reasons, err := plan(s.Data, o, ref)
		if err != nil {
			return nil, err
		}
		if len(reasons) == 0 {
			return data, nil
		}
		s.Data = data
		err = c.Update(ctx, &s)
		if apierrors.IsConflict(err) {
			log.V(1).Info("the certificate secret changed while renewing it; reading it again", "secret", ref)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update secret %q: %w", ref, err)
		}
		// The reasons name what was wrong, never key material.
		log.Info("renewed the certificate secret", "secret", ref, "reasons", strings.Join(reasons, "; "))
		return data, nil
	}
	return nil, fmt.Errorf("secret %q kept changing under %d attempts to write it", ref, maxWriteAttempts)
}
