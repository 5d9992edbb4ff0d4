package preview

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/auth"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/capability/storage"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// What a preview asks of each capability: the parent's capabilities, under
// the preview's own names, in the preview's own namespace, running the
// PR's image at scaling 1–2.

// previewScaling: one pod, a second under load (docs/OPERATOR.md#preview-environments).
var previewScaling = platformv1.ScalingSpec{Min: 1, Max: 2, TargetCPU: 80}

// target is the preview as the capabilities see it: conditions on the
// PreviewEnvironment, children in its namespace, controlled by that
// Namespace (so they go with it).
func (r *Reconciler) target(s *scope) capability.Target {
	return capability.Target{
		Owner:       s.pe,
		Namespace:   s.ns.Name,
		Controller:  metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: s.ns.Name, UID: s.ns.UID},
		Labels:      childLabels(s.pe),
		Settled:     s.Settled,
		Established: s.Before.Status.ObservedGeneration > 0,
	}
}

// backendOwner names the preview in the backends: its namespace is unique
// to it, the app's name says whose preview it is, and the
// PreviewEnvironment's UID makes a re-created preview of the same PR a new
// owner.
func backendOwner(n naming.Preview, pe *platformv1.PreviewEnvironment) database.Owner {
	return database.Owner{Namespace: n.Namespace(), Name: n.App, UID: string(pe.UID)}
}

func objects(pe *platformv1.PreviewEnvironment) naming.Objects {
	return naming.ObjectsFor(pe.Spec.ApplicationRef)
}

func databaseSpec(n naming.Preview, pe *platformv1.PreviewEnvironment, parent *platformv1.Application) capdatabase.Spec {
	return capdatabase.Spec{
		Enabled: parent.Spec.DatabaseEnabled(),
		Names:   n.Database(),
		Owner:   backendOwner(n, pe),
		Secret:  objects(pe).DatabaseSecret,
	}
}

func storageSpec(n naming.Preview, pe *platformv1.PreviewEnvironment, parent *platformv1.Application, baseDomain string) storage.Spec {
	o := backendOwner(n, pe)
	spec := storage.Spec{
		Enabled:       parent.Spec.StorageEnabled(),
		BucketName:    n.Bucket,
		BucketsPrefix: n.BucketsPrefix(),
		User:          n.StorageUser(pe.Namespace),
		Owner:         o.Namespace + "/" + o.Name + "/" + o.UID,
		Secret:        objects(pe).StorageSecret,
		Origins:       []string{"https://" + n.Host(baseDomain)},
	}
	if parent.Spec.Storage != nil {
		spec.Buckets = parent.Spec.Storage.Buckets
	}
	if parent.Spec.CORS != nil {
		spec.Origins = append(spec.Origins, parent.Spec.CORS.Origins...)
	}
	return spec
}

func authSpec(n naming.Preview, pe *platformv1.PreviewEnvironment, parent *platformv1.Application, baseDomain string) auth.Spec {
	o := backendOwner(n, pe)
	spec := auth.Spec{
		Enabled: parent.Spec.AuthEnabled(),
		Client:  auth.NewClient(o.Namespace+"/"+o.Name, n.Realm(), pe.Spec.ApplicationRef, n.Host(baseDomain)),
		Secret:  objects(pe).AuthSecret,
		// A preview signs in through its parent's providers, with the
		// credentials the platform team registered for the parent.
		Credentials: auth.CredentialsSecretName(parent.Namespace, parent.Name),
	}
	if parent.Spec.Auth != nil {
		spec.Providers = parent.Spec.Auth.Providers
	}
	return spec
}
