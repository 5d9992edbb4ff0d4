package ext

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

func TestReadArchive(t *testing.T) {
	c, err := ReadArchive(tgz(t, map[string]string{
		"web/Chart.yaml":                     "apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: \"4.5\"\nannotations:\n  platz.io/git/commit: abc123\n",
		"web/values.ui.json":                 `{"inputs": [{"id": "a", "type": "text", "label": "A"}]}`,
		"web/templates/x.yaml":               "kind: ConfigMap",
		"web/charts/sub/values.ui.json":      "not json: a subchart's file is not the chart's",
		"web/charts/sub/platz/features.yaml": "nor this",
	}))
	if err != nil || c.ExtErr != nil {
		t.Fatal(err, c.ExtErr)
	}
	if c.Metadata.Name != "web" || c.Metadata.AppVersion != "4.5" || c.Metadata.Annotations[AnnotationGitCommit] != "abc123" {
		t.Errorf("metadata = %+v", c.Metadata)
	}
	if c.Ext.Layout != "root" || c.Ext.UISchema.Input("a") == nil {
		t.Errorf("ext = %+v", c.Ext)
	}

	c, err = ReadArchive(tgz(t, map[string]string{"web/Chart.yaml": "name: web\nversion: 1.0.0\n", "web/values.ui.json": "{"}))
	if err != nil || c.ExtErr == nil || !strings.Contains(c.ExtErr.Error(), "values.ui.json") {
		t.Errorf("a broken extension is kept as the chart's error: %v, %v", err, c.ExtErr)
	}
	if _, err := ReadArchive([]byte("not gzip")); err == nil {
		t.Error("not an archive: no error")
	}
	if _, err := ReadArchive(tgz(t, map[string]string{"web/values.yaml": "a: 1"})); err == nil || !strings.Contains(err.Error(), "Chart.yaml") {
		t.Errorf("no Chart.yaml: %v", err)
	}
}
