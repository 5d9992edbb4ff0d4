package server

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// TestLoadAppAsksTheAPIServerOnACacheMiss: an app another replica created a
// moment ago is not yet in this replica's informer cache; loadApp must find
// it rather than answer 404 (seen in CI: a reinstall right after an Install
// task finished got "does not exist").
func TestLoadAppAsksTheAPIServerOnACacheMiss(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := platformv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "fresh"}}
	s := &Server{
		Cache: fake.NewClientBuilder().WithScheme(scheme).Build(), // has not seen it yet
		Kube:  fake.NewClientBuilder().WithScheme(scheme).WithObjects(app).Build(),
	}
	got, err := s.loadApp(context.Background(), store.AppKey{Namespace: "team-a", Name: "fresh"})
	if err != nil || got.Name != "fresh" {
		t.Fatalf("loadApp = %v, %v; want the app from the API server", got, err)
	}
	if _, err := s.loadApp(context.Background(), store.AppKey{Namespace: "team-a", Name: "absent"}); err == nil {
		t.Fatal("an app that exists nowhere was found")
	} else if e, ok := err.(*Error); !ok || e.Status != 404 {
		t.Fatalf("absent app: %v; want a 404", err)
	}
}
