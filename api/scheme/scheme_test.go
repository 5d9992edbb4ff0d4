package scheme_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// The CLI reads and writes all of these through a client built on New.
func TestNewKnowsPlattrAndBuiltinTypes(t *testing.T) {
	s := scheme.New()
	for _, obj := range []runtime.Object{
		&platformv1.Application{}, &platformv1.ApplicationList{},
		&platformv1.PreviewEnvironment{}, &platformv1.PreviewEnvironmentList{},
		&platformv1.Tenant{}, &platformv1.TenantList{},
		&corev1.Namespace{}, &corev1.Secret{}, &corev1.Pod{}, &appsv1.Deployment{}, &coordinationv1.Lease{},
	} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) == 0 {
			t.Errorf("%T is unknown to the scheme: %v", obj, err)
		}
	}
	gvks, _, _ := s.ObjectKinds(&platformv1.Application{})
	if len(gvks) != 1 || gvks[0].GroupVersion() != platformv1.GroupVersion || gvks[0].Kind != "Application" {
		t.Errorf("Application registered as %v, want %s Application", gvks, platformv1.GroupVersion)
	}
}
