package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func TestResolveEnv(t *testing.T) {
	for _, tt := range []struct {
		env     platformv1.Environment
		pr      int
		want    string
		wantErr string
	}{
		{"staging", 0, "staging", ""},
		{"uat", 0, "uat", ""},
		{"production", 3, "production", ""},
		{"preview", 42, "preview-web-pr-42", ""},
		{"preview", 0, "", "--pr"},
		{"qa", 0, "", "not one of staging, uat, production, preview"},
	} {
		got, err := resolveEnv(tt.env, "web", tt.pr)
		if got != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("resolveEnv(%s, pr %d) = %q, %v; want %q, error with %q", tt.env, tt.pr, got, err, tt.want, tt.wantErr)
		}
	}
}

// The namespace: -n wins, then --env, then plattr.yaml's environment.
func TestTargetResolution(t *testing.T) {
	dir := t.TempDir()
	project := filepath.Join(dir, "plattr.yaml")
	if err := os.WriteFile(project, []byte("name: shop\nrepository: github.com/acme/shop\nframework: docker\nenvironment: uat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		tf       targetFlags
		explicit bool
		args     []string
		wantApp  string
		wantNS   string
		wantErr  string
	}{
		{name: "plattr.yaml's environment", tf: targetFlags{project: project}, wantApp: "shop", wantNS: "uat"},
		{name: "--env wins over plattr.yaml", tf: targetFlags{project: project, env: "production"}, wantApp: "shop", wantNS: "production"},
		{name: "-n wins over everything", tf: targetFlags{project: project, env: "production"}, explicit: true, wantApp: "shop", wantNS: "given"},
		{name: "a preview's own namespace", tf: targetFlags{project: project, pr: 9}, wantApp: "shop", wantNS: "preview-shop-pr-9"},
		{name: "another app named: the kubeconfig's namespace", tf: targetFlags{project: project}, args: []string{"other"}, wantApp: "other", wantNS: "given"},
		{name: "no app at all", tf: targetFlags{project: filepath.Join(dir, "none.yaml")}, wantErr: "cannot"},
		{name: "preview without a PR", tf: targetFlags{project: project, env: "preview"}, wantErr: "--pr"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{ns: "given", explicit: tt.explicit}
			got, err := tt.tf.resolve(s, tt.args)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("resolved %+v, want an error", got)
				}
				return
			}
			if err != nil || got.app != tt.wantApp || got.ns != tt.wantNS {
				t.Errorf("resolved app %q ns %q (%v), want %q in %q", got.app, got.ns, err, tt.wantApp, tt.wantNS)
			}
		})
	}
}

func TestLoadProjectNamesAMisspeltField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "plattr.yaml")
	if err := os.WriteFile(p, []byte("name: shop\ndatabse: {enabled: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadProject(p); err == nil || !strings.Contains(err.Error(), "databse") {
		t.Errorf("err = %v, want it to name databse", err)
	}
}
