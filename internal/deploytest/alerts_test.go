package deploytest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var promDir = filepath.Join(chartDir, "files", "prometheus")

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record,omitempty"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(promDir, "alerts.yaml"))), &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

// TestAlertRules: promtool checks the rules and runs their unit tests.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out := mustRun(t, promtool, "check", "rules", filepath.Join(promDir, "alerts.yaml"))
	if !strings.Contains(out, "SUCCESS: 10 rules found") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	out = mustRun(t, promtool, "test", "rules", filepath.Join(promDir, "alerts_test.yaml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
}

// TestEveryAlertHasTestsAndARunbook: each alert has a firing and a silent
// unit test, a severity, and a runbook_url to its page in docs/runbooks,
// which has the three parts of a runbook.
func TestEveryAlertHasTestsAndARunbook(t *testing.T) {
	var tests struct {
		Tests []struct {
			Name          string `json:"name"`
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(promDir, "alerts_test.yaml"))), &tests); err != nil {
		t.Fatal(err)
	}
	firing, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if !firing[r.Alert] || !silent[r.Alert] {
				t.Errorf("%s: firing test %v, silent test %v; want both", r.Alert, firing[r.Alert], silent[r.Alert])
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			want := "https://github.com/plattr/plattr/blob/main/docs/runbooks/" + r.Alert + ".md"
			if r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			page, err := os.ReadFile(filepath.Join(root, "docs", "runbooks", r.Alert+".md"))
			if err != nil {
				t.Errorf("%s: no runbook: %v", r.Alert, err)
				continue
			}
			for _, part := range []string{"# " + r.Alert + "\n", "## Symptom", "## Checks", "## Fix"} {
				if !strings.Contains(string(page), part) {
					t.Errorf("docs/runbooks/%s.md lacks %q", r.Alert, part)
				}
			}
			if !strings.Contains(readFile(t, filepath.Join(root, "docs", "runbooks", "README.md")), "("+r.Alert+".md)") {
				t.Errorf("docs/runbooks/README.md does not list %s", r.Alert)
			}
		}
	}
}

// TestDashboard: the Grafana dashboard is valid JSON whose every query
// PromQL parses (promtool checks them as recording rules), and it shows
// phases, reconciles, provisioning latency, previews and API latency.
func TestDashboard(t *testing.T) {
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(chartDir, "files", "dashboards", "plattr.json"))), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	var all strings.Builder
	for i, p := range dash.Panels {
		for j, tg := range p.Targets {
			b, _ := json.Marshal(tg.Expr)
			rules.WriteString("      - record: dashboard:panel" + string(rune('a'+i)) + string(rune('a'+j)) + "\n        expr: " + string(b) + "\n")
			all.WriteString(tg.Expr + "\n")
		}
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, tool(t, "promtool"), "check", "rules", f)
	for _, m := range []string{"plattr_application_phase", "plattr_reconcile_total", "plattr_provisioning_duration_seconds_bucket",
		"plattr_preview_environments_active", "plattr_api_request_duration_seconds_bucket"} {
		if !strings.Contains(all.String(), m) {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// metricNames lists the metric names the alerts and the dashboard query,
// by job.
func metricNames(t *testing.T) map[string][]string {
	t.Helper()
	re := regexp.MustCompile(`\b((?:plattr|leader_election|workqueue)_[a-z_]+)\{job="(plattr-[a-z]+)"`)
	byJob := map[string][]string{}
	var text strings.Builder
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			text.WriteString(r.Expr + "\n")
		}
	}
	text.WriteString(strings.ReplaceAll(readFile(t, filepath.Join(chartDir, "files", "dashboards", "plattr.json")), `\"`, `"`))
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(text.String(), -1) {
		name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_count"), "_sum")
		if !seen[m[2]+name] {
			seen[m[2]+name] = true
			byJob[m[2]] = append(byJob[m[2]], name)
		}
	}
	return byJob
}
