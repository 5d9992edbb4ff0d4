{{/* Object names: <release>-plattr unless the release name already says plattr. */}}
{{- define "plattr.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "plattr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: plattr
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ include "plattr.tag" . | quote }}
{{- end -}}

{{/* Selector labels of one component: include "plattr.selector" (list . "operator") */}}
{{- define "plattr.selector" -}}
app.kubernetes.io/name: {{ printf "plattr-%s" (index . 1) }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
{{- end -}}

{{- define "plattr.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "plattr.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $root.Values.image.registry) (index . 1) (include "plattr.tag" $root) -}}
{{- end -}}

{{- define "plattr.operatorServiceAccount" -}}
{{- default (printf "%s-operator" (include "plattr.fullname" .)) .Values.operator.serviceAccount.name -}}
{{- end -}}

{{- define "plattr.apiServiceAccount" -}}
{{- default (printf "%s-api" (include "plattr.fullname" .)) .Values.api.serviceAccount.name -}}
{{- end -}}

{{/* The restricted Pod Security profile, for every container of the chart. */}}
{{- define "plattr.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "plattr.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
