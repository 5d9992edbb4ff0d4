// Package crds installs Plattr's CustomResourceDefinitions and admission
// policies, embedded in the binary, and waits until the API server serves
// the CRDs.
package crds

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/config/admission"
	"github.com/plattr/plattr/config/crd"
	"github.com/plattr/plattr/config/gatewayapi"
)

// Install applies every embedded CRD (the Gateway API's, which
// ApiAggregators render to and the route admission policy names, first)
// and admission policy with server-side apply and waits until each CRD is
// Established.
func Install(ctx context.Context, cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	type file struct {
		fs   fs.ReadFileFS
		name string
	}
	var files []file
	for _, src := range []struct {
		fs      fs.ReadFileFS
		pattern string
	}{{gatewayapi.CRDs, "*.yaml"}, {crd.Bases, "bases/*.yaml"}} {
		names, err := fs.Glob(src.fs, src.pattern)
		if err != nil {
			return err
		}
		for _, n := range names {
			files = append(files, file{src.fs, n})
		}
	}
	var names []string
	for _, ff := range files {
		f := ff.name
		b, err := ff.fs.ReadFile(f)
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &obj.Object); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("plattr"), client.ForceOwnership); err != nil {
			return fmt.Errorf("installing CRD %s: %w", obj.GetName(), err)
		}
		names = append(names, obj.GetName())
	}
	policies, err := fs.Glob(admission.Policies, "*.yaml")
	if err != nil {
		return err
	}
	for _, f := range policies {
		if f == "kustomization.yaml" {
			continue
		}
		b, err := admission.Policies.ReadFile(f)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			kind, name := obj.GetKind(), obj.GetName()
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("plattr"), client.ForceOwnership); err != nil {
				return fmt.Errorf("installing %s %s: %w", kind, name, err)
			}
		}
	}
	if err := apiextensionsv1.AddToScheme(c.Scheme()); err != nil {
		return err
	}
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, got); err != nil {
				return false, nil
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", name, err)
		}
	}
	return nil
}
