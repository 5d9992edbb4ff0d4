package compose_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/auth"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/capability/compose"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/capability/storage"
	"github.com/plattr/plattr/internal/config"
)

// The workload needs the enabled capabilities only, in envFrom order, each
// with what it provided now, and reads what it provided before from the
// owner's own objects.
func TestNeedsFollowTheEnabledCapabilitiesInOrder(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	target := capabilitytest.Target(app)
	ref := target.Controller
	ref.Controller = ptrTrue()
	env := capabilitytest.NewEnv(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-auth", OwnerReferences: []metav1.OwnerReference{ref}}, Data: map[string][]byte{"AUTH_CLIENT_SECRET": []byte("s")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-auth", OwnerReferences: []metav1.OwnerReference{ref}}, Data: map[string]string{"AUTH_CLIENT_ID": "c"}},
	)
	set := compose.New(env.Kube, compose.Backends{}, config.Operator{})
	if set.Database.DB != nil || set.Storage.Store != nil || set.Auth.IdP != nil {
		t.Fatal("missing backends must stay nil interfaces")
	}
	provided := map[string][]capability.Source{capdatabase.Name: {{From: capdatabase.Name, Kind: capability.KindSecret, Name: "web-db"}}}
	needs := set.Needs(target, compose.Specs{
		Database: capdatabase.Spec{Enabled: true, Secret: "web-db"},
		Storage:  storage.Spec{Enabled: false, Secret: "web-storage"},
		Auth:     auth.Spec{Enabled: true, Secret: "web-auth"},
	}, provided)
	if len(needs) != 2 || needs[0].From != capdatabase.Name || needs[1].From != auth.Name {
		t.Fatalf("needs %+v, want database then auth", needs)
	}
	if len(needs[0].Provided) != 1 || needs[1].Provided != nil {
		t.Errorf("provided: database %v, auth %v", needs[0].Provided, needs[1].Provided)
	}
	last, err := needs[1].LastGood(context.Background())
	if err != nil || len(last) != 2 || last[0].Kind != capability.KindConfigMap || last[1].Name != "web-auth" {
		t.Errorf("auth's last good configuration: %+v (%v), want its ConfigMap and Secret", last, err)
	}
}

func ptrTrue() *bool { b := true; return &b }
