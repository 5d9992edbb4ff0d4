package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/ingress"
)

// installHTTPRouteCRD installs a minimal HTTPRoute CRD (any fields), as a
// cluster with the Gateway API would have.
func installHTTPRouteCRD(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	c, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "httproutes.gateway.networking.k8s.io",
			Annotations: map[string]string{"api-approved.kubernetes.io": "unapproved, test only"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "gateway.networking.k8s.io", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "httproutes", Singular: "httproute", Kind: "HTTPRoute", ListKind: "HTTPRouteList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true)}}}},
		},
	}
	if err := c.Create(ctx, crd); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	eventually(t, runningTimeout, "the HTTPRoute CRD to be established", func() error {
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
			return err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %v", got.Status.Conditions)
	})
}

// A host an HTTPRoute serves (Gateway API installed) is not the app's to take.
func TestAHostAnHTTPRouteServesIsRefused(t *testing.T) {
	installHTTPRouteCRD(t)
	stopOperator() // it looks the Gateway API up at start
	startOperator(t)
	ns := newNamespace(t)
	route := &unstructured.Unstructured{}
	route.SetGroupVersionKind(ingress.HTTPRouteKind)
	route.SetNamespace(ns)
	route.SetName("shop")
	route.Object["spec"] = map[string]any{"hostnames": []any{"gw.example.org"}}
	if err := k8s.Create(context.Background(), route); err != nil {
		t.Fatal(err)
	}
	create(t, newApp(ns, "taker", func(a *platformv1.Application) { a.Spec.Domain = "gw.example.org" }))
	c := waitIngressReason(t, ns, "taker", platformv1.ReasonHostConflict)
	if !strings.Contains(c.Message, "HTTPRoute "+ns+"/shop") {
		t.Errorf("message: %s", c.Message)
	}
	if ing := ingressesWithHost(t, "gw.example.org"); len(ing) > 0 {
		t.Errorf("Ingress %s/%s routes the HTTPRoute's host", ing[0].Namespace, ing[0].Name)
	}
}
