package application_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "measured"))
	waitPhase(t, ns, "measured", platformv1.PhaseRunning, runningTimeout)

	for _, path := range []string{"/healthz", "/readyz"} {
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
		`plattr_reconcile_total{name="measured",result="success"}`,
		`plattr_provisioning_duration_seconds_count`,
		`plattr_preview_environments_active`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
