package server

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/plattr/plattr/internal/platformapi/authz"
)

// cluster is one cluster the platform manages.
type cluster struct {
	Name string `json:"name"`
	// Version is the API server's Kubernetes version.
	Version string `json:"version"`
	Nodes   int    `json:"nodes"`
	// ReadyNodes are nodes whose Ready condition is True.
	ReadyNodes int `json:"readyNodes"`
	// Health is ok when the API server answers /readyz and every node is
	// ready, degraded when some nodes are not, down when the API server
	// does not answer.
	Health    string    `json:"health"`
	Message   string    `json:"message,omitempty"`
	CheckedAt time.Time `json:"checkedAt"`
}

// listClusters is for site admins: the cluster's version, node counts and
// the API server's errors say more about the platform than a team needs.
func (s *Server) listClusters(c *call) (any, error) {
	if err := c.p.Check(authz.SiteAdmin, "", ""); err != nil {
		return nil, err
	}
	return []cluster{s.clusterState(c.ctx())}, nil
}

func (s *Server) clusterState(ctx context.Context) cluster {
	out := cluster{Name: s.ClusterName, CheckedAt: time.Now().UTC(), Health: "ok"}
	if s.Discovery != nil {
		if v, err := s.Discovery.ServerVersion(); err == nil {
			out.Version = v.GitVersion
		}
		body, err := s.Discovery.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			out.Health, out.Message = "down", "the API server's /readyz: "+err.Error()+" "+string(body)
			return out
		}
	}
	nodes := &corev1.NodeList{}
	if err := s.Kube.List(ctx, nodes); err != nil {
		out.Health, out.Message = "down", "listing nodes: "+err.Error()
		return out
	}
	out.Nodes = len(nodes.Items)
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				out.ReadyNodes++
			}
		}
	}
	if out.ReadyNodes < out.Nodes {
		out.Health, out.Message = "degraded", "some nodes are not ready"
	}
	return out
}
