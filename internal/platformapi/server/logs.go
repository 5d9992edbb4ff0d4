package server

import (
	"fmt"
	"io"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authz"
)

// appLogs writes the last lines of the app container of each of the app's
// pods, as text, through the Kubernetes API (pods/log): the portal's "logs"
// link and `curl` both read it.
func (s *Server) appLogs(c *call) {
	key, err := s.visibleApp(c, authz.ViewApp)
	if err != nil {
		s.fail(c.w, err)
		return
	}
	tail := int64(200)
	if v := c.r.URL.Query().Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 5000 {
			s.fail(c.w, badRequest("tailLines", "tailLines=%q: want 1 to 5000", v))
			return
		}
		tail = n
	}
	pods := &corev1.PodList{}
	if err := s.Cache.List(c.ctx(), pods, client.InNamespace(key.Namespace),
		client.MatchingLabels{platformv1.LabelApp: key.Name, platformv1.LabelManagedBy: platformv1.ManagedByValue}); err != nil {
		s.fail(c.w, err)
		return
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Header().Set("X-Content-Type-Options", "nosniff")
	if len(pods.Items) == 0 {
		fmt.Fprintf(c.w, "%s/%s has no pods\n", key.Namespace, key.Name)
		return
	}
	for _, p := range pods.Items {
		fmt.Fprintf(c.w, "==> pod %s (%s) <==\n", p.Name, p.Status.Phase)
		if s.Pods == nil {
			fmt.Fprintln(c.w, "(logs are not available: no Kubernetes client)")
			continue
		}
		stream, err := s.Pods.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "app", TailLines: &tail}).Stream(c.ctx())
		if err != nil {
			fmt.Fprintf(c.w, "(no logs: %v)\n", err)
			continue
		}
		_, _ = io.Copy(c.w, stream)
		stream.Close()
		fmt.Fprintln(c.w)
	}
}
