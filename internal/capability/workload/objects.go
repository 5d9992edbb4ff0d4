package workload

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
)

const (
	// PostgRESTImage is pinned: upgrading it is an operator release.
	PostgRESTImage = "postgrest/postgrest:v12.2.3"
	// PostgRESTPort serves the owner's schema as a REST API.
	PostgRESTPort = 3001
	// postgrestAdminPort serves PostgREST's /live and /ready probes.
	postgrestAdminPort = 3002
)

func serviceAccount(t capability.Target, name string) *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(name, t.Namespace).
		WithLabels(t.Labels).
		WithOwnerReferences(t.OwnerReference()).
		WithAutomountServiceAccountToken(false)
}

func restrictedContainer() *corev1ac.SecurityContextApplyConfiguration {
	return corev1ac.SecurityContext().
		WithAllowPrivilegeEscalation(false).
		WithRunAsNonRoot(true).
		WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
}

func resources(cpuReq, memReq, cpuLim, memLim string) *corev1ac.ResourceRequirementsApplyConfiguration {
	return corev1ac.ResourceRequirements().
		WithRequests(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq), corev1.ResourceMemory: resource.MustParse(memReq)}).
		WithLimits(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLim), corev1.ResourceMemory: resource.MustParse(memLim)})
}

// deployment never sets spec.replicas: the HPA owns the replica count, and
// two writers would fight over it.
func deployment(t capability.Target, spec Spec, env []*corev1ac.EnvVarApplyConfiguration, sources []capability.Source, hash string, progressDeadline time.Duration) *appsv1ac.DeploymentApplyConfiguration {
	port := spec.Port
	// Zero values are never set in an apply configuration: they are not
	// serialised, so the live object could never compare equal.
	readiness := corev1ac.Probe().
		WithHTTPGet(corev1ac.HTTPGetAction().WithPath(spec.HealthPath).WithPort(intstr.FromString("http"))).
		WithPeriodSeconds(10).WithFailureThreshold(3)
	liveness := corev1ac.Probe().
		WithHTTPGet(corev1ac.HTTPGetAction().WithPath(spec.HealthPath).WithPort(intstr.FromString("http"))).
		WithInitialDelaySeconds(15).WithPeriodSeconds(10).WithFailureThreshold(3)
	appContainer := corev1ac.Container().
		WithName("app").
		WithImage(spec.Image).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(port).WithProtocol(corev1.ProtocolTCP)).
		WithEnv(corev1ac.EnvVar().WithName(platformv1.KeyPort).WithValue(fmt.Sprint(port))).
		WithEnv(env...).
		WithReadinessProbe(readiness).
		WithLivenessProbe(liveness).
		WithResources(resources("100m", "128Mi", "1", "512Mi")).
		WithSecurityContext(restrictedContainer())
	containers := []*corev1ac.ContainerApplyConfiguration{appContainer}
	var volumes []*corev1ac.VolumeApplyConfiguration
	if m := spec.Messaging; m != nil {
		appContainer.WithEnv(
			corev1ac.EnvVar().WithName(platformv1.KeyNatsURL).WithValue(m.URL),
			corev1ac.EnvVar().WithName(platformv1.KeyNatsCreds).WithValue(platformv1.NatsCredsMountPath+"/"+platformv1.NatsCredsKey)).
			WithVolumeMounts(corev1ac.VolumeMount().WithName("nats-creds").WithMountPath(platformv1.NatsCredsMountPath).WithReadOnly(true))
		volumes = append(volumes, corev1ac.Volume().WithName("nats-creds").
			WithSecret(corev1ac.SecretVolumeSource().WithSecretName(m.Secret)))
	}

	for _, src := range sources {
		if src.Kind == capability.KindSecret {
			appContainer.WithEnvFrom(corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(src.Name)))
		} else {
			appContainer.WithEnvFrom(corev1ac.EnvFromSource().WithConfigMapRef(corev1ac.ConfigMapEnvSource().WithName(src.Name)))
		}
	}
	if p := spec.PostgREST; p != nil {
		secret, names := p.Secret, p.Names
		adminProbe := func(path string) *corev1ac.ProbeApplyConfiguration {
			return corev1ac.Probe().WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromInt32(postgrestAdminPort))).
				WithPeriodSeconds(10)
		}
		containers = append(containers, corev1ac.Container().
			WithName("postgrest").
			WithImage(PostgRESTImage).
			WithPorts(corev1ac.ContainerPort().WithName("postgrest").WithContainerPort(PostgRESTPort).WithProtocol(corev1.ProtocolTCP)).
			WithEnv(
				corev1ac.EnvVar().WithName("PGRST_DB_URI").WithValueFrom(corev1ac.EnvVarSource().
					WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(secret).WithKey(platformv1.KeyDatabaseURL))),
				// The very schema and role the database phase created.
				corev1ac.EnvVar().WithName("PGRST_DB_SCHEMAS").WithValue(names.Schema),
				corev1ac.EnvVar().WithName("PGRST_DB_ANON_ROLE").WithValue(names.AnonRole),
				corev1ac.EnvVar().WithName("PGRST_DB_CHANNEL").WithValue(names.Channel),
				corev1ac.EnvVar().WithName("PGRST_SERVER_PORT").WithValue(fmt.Sprint(PostgRESTPort)),
				corev1ac.EnvVar().WithName("PGRST_ADMIN_SERVER_PORT").WithValue(fmt.Sprint(postgrestAdminPort)),
			).
			WithReadinessProbe(adminProbe("/ready")).
			WithLivenessProbe(adminProbe("/live")).
			WithResources(resources("50m", "64Mi", "500m", "256Mi")).
			WithSecurityContext(restrictedContainer()))
	}

	return appsv1ac.Deployment(spec.Name, t.Namespace).
		WithLabels(t.Labels).
		WithOwnerReferences(t.OwnerReference()).
		WithSpec(appsv1ac.DeploymentSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(spec.Selector)).
			WithRevisionHistoryLimit(5).
			WithProgressDeadlineSeconds(int32(progressDeadline.Seconds())).
			WithStrategy(appsv1ac.DeploymentStrategy().
				WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
					WithMaxUnavailable(intstr.FromInt32(0)).WithMaxSurge(intstr.FromString("25%")))).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(t.Labels).
				WithAnnotations(map[string]string{platformv1.AnnotationConfigHash: hash}).
				WithSpec(corev1ac.PodSpec().
					WithServiceAccountName(spec.Name).
					WithAutomountServiceAccountToken(false).
					WithSecurityContext(corev1ac.PodSecurityContext().
						WithRunAsNonRoot(true).
						WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
					WithVolumes(volumes...).
					WithContainers(containers...))))
}

func service(t capability.Target, spec Spec) *corev1ac.ServiceApplyConfiguration {
	ports := []*corev1ac.ServicePortApplyConfiguration{
		corev1ac.ServicePort().WithName("http").WithPort(80).WithTargetPort(intstr.FromString("http")).WithProtocol(corev1.ProtocolTCP),
	}
	if spec.PostgREST != nil {
		ports = append(ports, corev1ac.ServicePort().WithName("postgrest").WithPort(PostgRESTPort).
			WithTargetPort(intstr.FromString("postgrest")).WithProtocol(corev1.ProtocolTCP))
	}
	return corev1ac.Service(spec.Name, t.Namespace).
		WithLabels(t.Labels).
		WithOwnerReferences(t.OwnerReference()).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(spec.Selector).
			WithPorts(ports...))
}

// hpa scales up by at most 2 pods a minute after 30 s of sustained load and
// down by 1 pod a minute behind a 5-minute window, so it does not flap.
func hpa(t capability.Target, name string, scaling platformv1.ScalingSpec) *autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration {
	return autoscalingv2ac.HorizontalPodAutoscaler(name, t.Namespace).
		WithLabels(t.Labels).
		WithOwnerReferences(t.OwnerReference()).
		WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().
			WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName(name)).
			WithMinReplicas(scaling.Min).
			WithMaxReplicas(scaling.Max).
			WithMetrics(autoscalingv2ac.MetricSpec().
				WithType(autoscalingv2.ResourceMetricSourceType).
				WithResource(autoscalingv2ac.ResourceMetricSource().
					WithName(corev1.ResourceCPU).
					WithTarget(autoscalingv2ac.MetricTarget().
						WithType(autoscalingv2.UtilizationMetricType).
						WithAverageUtilization(scaling.TargetCPU)))).
			WithBehavior(autoscalingv2ac.HorizontalPodAutoscalerBehavior().
				WithScaleUp(autoscalingv2ac.HPAScalingRules().
					WithStabilizationWindowSeconds(30).
					WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PodsScalingPolicy).WithValue(2).WithPeriodSeconds(60))).
				WithScaleDown(autoscalingv2ac.HPAScalingRules().
					WithStabilizationWindowSeconds(300).
					WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PodsScalingPolicy).WithValue(1).WithPeriodSeconds(60)))))
}

func pdb(t capability.Target, spec Spec) *policyv1ac.PodDisruptionBudgetApplyConfiguration {
	return policyv1ac.PodDisruptionBudget(spec.Name, t.Namespace).
		WithLabels(t.Labels).
		WithOwnerReferences(t.OwnerReference()).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithMinAvailable(intstr.FromInt32(1)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(spec.Selector)))
}
