package bed

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
)

// ImpersonatingKubeconfig writes to dst a copy of the kubeconfig src whose
// users impersonate user (e.g. "system:serviceaccount:ns:name"), so a
// program run with it has exactly that user's permissions: the API server
// authorizes every request as the impersonated user, with a service
// account's groups, while src's credentials only prove the right to
// impersonate.
func ImpersonatingKubeconfig(src, dst, user string) error {
	cfg, err := clientcmd.LoadFromFile(src)
	if err != nil {
		return fmt.Errorf("read kubeconfig %q: %w", src, err)
	}
	if len(cfg.AuthInfos) == 0 {
		return fmt.Errorf("kubeconfig %q has no users", src)
	}
	for _, u := range cfg.AuthInfos {
		u.Impersonate = user
	}
	if err := clientcmd.WriteToFile(*cfg, dst); err != nil {
		return fmt.Errorf("write kubeconfig %q: %w", dst, err)
	}
	return nil
}
