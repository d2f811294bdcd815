{{/* Name of the chart, for labels. */}}
{{- define "pullguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Base name of the release's objects. */}}
{{- define "pullguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pullguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pullguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pullguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "pullguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pullguard
{{- end }}

{{/* The image by digest; the tag only documents it. */}}
{{- define "pullguard.image" -}}
{{- $tag := "" }}
{{- if .Values.image.tag }}{{ $tag = printf ":%s" .Values.image.tag }}{{ end }}
{{- $digest := required "image.digest is required: install a released chart, or pass --set image.digest=sha256:... of the image you built (make image prints it)" .Values.image.digest }}
{{- printf "%s%s@%s" .Values.image.repository $tag $digest }}
{{- end }}

{{/*
"cert-manager" or "self-signed": certificates.mode with "auto" settled by
whether the cluster (or `helm template --api-versions`) serves cert-manager.io/v1.
*/}}
{{- define "pullguard.certMode" -}}
{{- if eq .Values.certificates.mode "auto" }}
{{- if .Capabilities.APIVersions.Has "cert-manager.io/v1" }}cert-manager{{ else }}self-signed{{ end }}
{{- else }}
{{- .Values.certificates.mode }}
{{- end }}
{{- end }}

{{/* Secret holding the serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "pullguard.tlsSecretName" -}}
{{- printf "%s-tls" (include "pullguard.fullname" .) }}
{{- end }}

{{/*
Name of the release's cluster-scoped objects (webhook configurations,
ClusterRole, ClusterRoleBinding): the Service's DNS name, <fullname>.<namespace>,
as webhook.ReleaseConfigurationName in Go. Unique because the Service is, so
two releases (even of one name in two namespaces) and a manual install under
the default name "pullguard" never share one.
*/}}
{{- define "pullguard.clusterScopedName" -}}
{{- printf "%s.%s" (include "pullguard.fullname" .) .Release.Namespace }}
{{- end }}

{{/* Name of both webhook configurations; `serve --webhook-configuration`. */}}
{{- define "pullguard.configurationName" -}}
{{- include "pullguard.clusterScopedName" . }}
{{- end }}

{{/* ServiceAccount the Pods run as. */}}
{{- define "pullguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pullguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Lease of the status writer's leader election (leaderElectionID in Go). */}}
{{- define "pullguard.leaseName" -}}
pullguard-policy-status.pullguard.io
{{- end }}

{{/*
Everything both webhooks share, in webhook.ConfigOptions' order: rules,
failure policy, side effects, timeout, review versions, namespace selector
and match conditions. Keep in step with webhook/config.go (charts/chart_test.go
compares them).
*/}}
{{- define "pullguard.webhookCommon" -}}
rules:
  - operations: [CREATE, UPDATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods, pods/ephemeralcontainers, replicationcontrollers, podtemplates]
    scope: Namespaced
  - operations: [CREATE, UPDATE]
    apiGroups: [apps]
    apiVersions: [v1]
    resources: [deployments, statefulsets, daemonsets, replicasets]
    scope: Namespaced
  - operations: [CREATE, UPDATE]
    apiGroups: [batch]
    apiVersions: [v1]
    resources: [jobs, cronjobs]
    scope: Namespaced
failurePolicy: {{ .Values.webhook.failurePolicy }}
# Admission has no side effects: dry-run requests get the same answer.
sideEffects: None
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
admissionReviewVersions: [v1]
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- toYaml (uniq (concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces)) | nindent 8 }}
    - key: pullguard.io/ignore
      operator: DoesNotExist
# Objects being deleted carry no new images: the API server skips the call.
matchConditions:
  - name: not-being-deleted
    expression: '!has(object.metadata.deletionTimestamp)'
{{- end }}

{{/* clientConfig of one webhook; the argument is (list $ path). */}}
{{- define "pullguard.clientConfig" -}}
{{- $ := index . 0 -}}
clientConfig:
  service:
    name: {{ include "pullguard.fullname" $ }}
    namespace: {{ $.Release.Namespace }}
    path: {{ index . 1 }}
    port: 443
{{- end }}

{{/* Annotations of the webhook configurations. */}}
{{- define "pullguard.webhookAnnotations" -}}
{{- if eq (include "pullguard.certMode" .) "cert-manager" }}
annotations:
  # cert-manager's cainjector keeps caBundle equal to the serving CA.
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "pullguard.fullname" . }}-serving
{{- end }}
{{- end }}

{{/*
The ConfigMap key of one file of registries.nodeRegistryConfig: the
directory and file name, with ":" (a port) spelled "_", joined by "__".
*/}}
{{- define "pullguard.nodeRegistryKey" -}}
{{- printf "%s__%s" (index . 0 | replace ":" "_") (index . 1) -}}
{{- end }}
