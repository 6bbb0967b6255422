{{/* Names, labels and the operator's RBAC rules, shared by the templates. */}}

{{- define "oma-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "oma-operator.fullname" -}}
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

{{- define "oma-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oma-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oma-operator.labels" -}}
{{ include "oma-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: oma
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "oma-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "oma-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "oma-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "oma-operator.workerImage" -}}
{{- printf "%s:%s" .Values.worker.image.repository (default .Chart.AppVersion .Values.worker.image.tag) -}}
{{- end -}}

{{/*
Every namespaced permission the operator uses, and why; nothing else. Shared by the ClusterRole (all
namespaces) and the per-namespace Roles (watchNamespaces). No Secret reads: the operator creates the
OmaStack's Postgres Secret once and replaces it on rotation, but never gets, lists or watches Secrets.
*/}}
{{- define "oma-operator.rules" -}}
# VideoJobs and OmaStacks: watched; status written; finalizers/update lets owner references block deletion
# where the OwnerReferencesPermissionEnforcement admission plugin is on.
- apiGroups: [video.oma.ai]
  resources: [videojobs, omastacks]
  verbs: [get, list, watch]
- apiGroups: [video.oma.ai]
  resources: [videojobs/status, omastacks/status]
  verbs: [patch]
# Never used by the operator itself: RBAC lets it grant a stack's dashboard Role (create and patch
# VideoJobs) only if it holds those verbs too.
- apiGroups: [video.oma.ai]
  resources: [videojobs]
  verbs: [create, patch]
- apiGroups: [video.oma.ai]
  resources: [videojobs/finalizers, omastacks/finalizers]
  verbs: [update]
# Worker Jobs (created, suspended, deleted on cancel) and the stacks' backup CronJobs (applied, pruned).
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [list, watch, create, patch, delete]
# The workers' per-namespace identity and each stack dashboard's and objects backup's (ServiceAccount, Role,
# RoleBinding), applied with server-side apply; the stacks' are children, so also watched for drift and pruned.
# Granting these Roles needs the operator to hold their rules itself: it does (see above).
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [list, watch, create, patch, delete]
# OmaStack children: watched for drift, applied, pruned when the spec stops asking for them.
- apiGroups: [""]
  resources: [configmaps, services, persistentvolumeclaims]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [statefulsets, deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch, delete]
# OmaStack children, and the workers' egress policy in each namespace that runs workers.
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies, ingresses]
  verbs: [list, watch, create, patch, delete]
# The stacks' Postgres credentials: created once, replaced on rotation. Never read.
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, patch]
# prometheus-operator objects of a stack; `list` finds out whether its CRDs are installed.
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors, podmonitors, prometheusrules]
  verbs: [list, create, patch, delete]
# Events on VideoJobs and OmaStacks (ours and kopf's).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Worker pods get an egress NetworkPolicy that allows the Kubernetes API by address and denies private ranges:
the operator reads the API's Service and EndpointSlice (`kubernetes` in `default`) by name, nothing else. A
ClusterRole rule, since `default` is rarely a watched namespace; resourceNames keeps it to those two objects. */}}
{{- define "oma-operator.apiserverAddressRules" -}}
- apiGroups: [""]
  resources: [services]
  verbs: [get]
  resourceNames: [kubernetes]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get]
  resourceNames: [kubernetes]
{{- end -}}
