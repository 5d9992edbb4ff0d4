package application

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/kit"
)

// A Secret in the platform namespace named plattr-auth.<namespace>.<app>
// wakes that app, wherever it runs; the same name elsewhere wakes nobody.
func TestPlatformCredentialsSecretWakesItsApp(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := platformv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Deps: kit.Deps{
		Client: fake.NewClientBuilder().WithScheme(scheme).Build(),
		Config: config.Operator{PlatformNamespace: "plattr-system", Auth: config.Auth{ProvidersSecret: "plattr-auth-providers"}},
	}}
	secret := func(ns, name string, labels map[string]string) *metav1.PartialObjectMetadata {
		m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		return m
	}
	tests := []struct {
		name   string
		secret *metav1.PartialObjectMetadata
		want   []string
	}{
		{"the platform namespace's Secret for shop/web", secret("plattr-system", "plattr-auth.shop.web", nil), []string{"shop/web"}},
		{"the same name in a tenant's namespace", secret("shop", "plattr-auth.shop.web", nil), nil},
		{"a name that is no app's", secret("plattr-system", "plattr-auth-providers", nil), nil},
		{"a Secret Plattr manages", secret("plattr-system", "plattr-auth.shop.web", map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, req := range r.appsUsingSecret(context.Background(), tt.secret) {
				got = append(got, req.String())
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Fatalf("requests %v, want %v", got, tt.want)
			}
		})
	}
}
