package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func newLogsCommand(g *globals) *cobra.Command {
	var tf targetFlags
	var follow bool
	var tail int64
	var container string
	cmd := &cobra.Command{
		Use:   "logs [app]",
		Short: "Print the logs of the app's pods, each line prefixed with its pod",
		Example: `  plattr logs -f
  plattr logs web --tail 100 --container postgrest
  plattr logs --env preview --pr 42`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, t, err := g.target(&tf, args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			sel := labels.SelectorFromSet(labels.Set{platformv1.LabelApp: t.app, platformv1.LabelManagedBy: platformv1.ManagedByValue}).String()
			pods, err := s.kube.CoreV1().Pods(t.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return err
			}
			if len(pods.Items) == 0 {
				return fmt.Errorf("no pods of %s in namespace %s: see `plattr status %s`", t.app, t.ns, t.app)
			}
			opts := &corev1.PodLogOptions{Container: container, Follow: follow}
			if tail >= 0 {
				opts.TailLines = &tail
			}
			var mu sync.Mutex
			var wg sync.WaitGroup
			errs := make(chan error, len(pods.Items))
			for _, p := range pods.Items {
				wg.Add(1)
				go func(pod string) {
					defer wg.Done()
					if err := stream(ctx, s, t.ns, pod, opts, cmd.OutOrStdout(), &mu); err != nil {
						errs <- fmt.Errorf("pod %s: %w", pod, err)
					}
				}(p.Name)
			}
			wg.Wait()
			close(errs)
			return <-errs
		},
	}
	tf.add(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().Int64Var(&tail, "tail", -1, "only the last N lines of each pod")
	cmd.Flags().StringVarP(&container, "container", "c", "app", "container: app or postgrest")
	return cmd
}

func stream(ctx context.Context, s *session, ns, pod string, opts *corev1.PodLogOptions, out io.Writer, mu *sync.Mutex) error {
	r, err := s.kube.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		mu.Lock()
		fmt.Fprintf(out, "[%s] %s\n", pod, sc.Text())
		mu.Unlock()
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}
