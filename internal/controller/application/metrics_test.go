package application_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestMetricsAndHealthEndpoints(t *testing.T) {
	ns := runningApp(t, "measured")

	for _, path := range []string{"/healthz", "/readyz", "/debug/pprof/heap?debug=1"} {
		eventually(t, 10*time.Second, path, func() error {
			code, body, err := get("http://" + metricsAddr + path)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("%d %s %v", code, body, err)
			}
			return nil
		})
	}
	_, body, err := get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`plattr_application_phase{name="measured",namespace=%q,phase="Running"} 1`, ns),
		fmt.Sprintf(`plattr_application_phase{name="measured",namespace=%q,phase="Pending"} 0`, ns),
		fmt.Sprintf(`plattr_reconcile_total{name="measured",namespace=%q,result="success"}`, ns),
		`plattr_provisioning_duration_seconds_count`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Regression: the series of a deleted app stayed forever (and
	// plattr_reconcile_total had no namespace to tell apps apart).
	if err := k8s.Delete(context.Background(), &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "measured"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, runningTimeout, "the deleted app's series to go", func() error {
		_, body, err := get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(body, "\n") {
			if strings.Contains(line, `name="measured"`) && strings.Contains(line, ns) {
				return fmt.Errorf("still served: %s", line)
			}
		}
		return nil
	})

	// The previews gauge counts what exists.
	create(t, &platformv1.PreviewEnvironment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "measured-pr-7"},
		Spec:       platformv1.PreviewEnvironmentSpec{ApplicationRef: "measured", PullRequest: 7, ImageRef: "registry.example.com/measured:pr-7"},
	})
	stopOperator() // the gauge is read at start, then every 15 s
	startOperator(t)
	list := &platformv1.PreviewEnvironmentList{}
	if err := k8s.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("plattr_preview_environments_active %d", len(list.Items))
	eventually(t, 20*time.Second, want, func() error {
		_, body, err := get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return err
		}
		if !strings.Contains(body, want) {
			return fmt.Errorf("not in /metrics")
		}
		return nil
	})
}
