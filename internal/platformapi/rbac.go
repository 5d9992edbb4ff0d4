package platformapi

// What the API server may do in the cluster, as controller-gen markers:
// `make generate` writes them to config/rbac/api/role.yaml, which the Helm
// chart binds to the API server's ServiceAccount. Each line names the code
// that needs it; a permission no code needs does not belong here.

// Apps, previews and tenants are created, changed and deleted by the task
// runner (tasks) and read through the mirrors' informers (mirror).
// +kubebuilder:rbac:groups=platform.internal,resources=applications,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=platform.internal,resources=previewenvironments,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=platform.internal,resources=tenants,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=platform.internal,resources=apiaggregatortargets,verbs=get

// The rotate-*-credentials actions delete the credential Secret so the
// operator rotates (tasks); the API never reads a Secret.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=delete

// Restart patches the Deployment's pod template (tasks); the resource view
// reads an app's children (mirror/resources).
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch

// Logs and costs read pods (server/logs, costs); clusters lists nodes
// (server/clusters); tenants check their namespaces (server/tenants).
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",resources=nodes,verbs=list
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

// The status poller reads an app's own Service to dial its ClusterIP
// (statuspoll), through the informers.
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
