{{/* The chart's name, and the release's full name (at most 63 characters, as DNS names). */}}
{{- define "data-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "data-service.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "data-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "data-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "data-service.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "data-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "data-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "data-service.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image, pinned by digest when one is given. */}}
{{- define "data-service.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The settings every container of the chart shares: the database, Redis, the token keys. */}}
{{- define "data-service.secretEnv" -}}
{{- if eq .Values.storage.dialect "sqlite" }}
- name: APP_DATABASE_URL
  value: sqlite:////srv/data/data-service.db
{{- else }}
- name: APP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.storage.existingSecret }}
      key: {{ .Values.storage.urlKey }}
{{- with .Values.storage.readReplicas }}
{{- if .existingSecret }}
- name: APP_DATABASE_READ_URLS
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .urlsKey }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.redis.enabled }}
- name: APP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.urlKey }}
{{- if .Values.redis.cluster }}
- name: APP_REDIS_CLUSTER
  value: "true"
{{- end }}
{{- end }}
{{- end -}}

{{/* The container securityContext of every container: the operator's (securityContext), else
non-root, read-only, nothing extra. */}}
{{- define "data-service.containerSecurityContext" -}}
{{- if .Values.securityContext }}
{{- toYaml .Values.securityContext }}
{{- else }}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- end -}}

{{- define "data-service.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}


{{/* The migrations' pod: the schema applied by `python -m app migrate`, and the partitions'
maintenance it ends with. The hook Job before install and upgrade and the maintenance CronJob
run the same pod, which the migrations' NetworkPolicy selects. */}}
{{- define "data-service.migrationPod" -}}
metadata:
  annotations:
    checkov.io/skip1: "CKV_K8S_8=runs to completion and serves nothing, so no liveness probe"
    checkov.io/skip2: "CKV_K8S_9=runs to completion and serves nothing, so no readiness probe"
  labels:
    app.kubernetes.io/name: {{ include "data-service.name" . }}-migrate
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/component: migrations
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "data-service.podSecurityContext" . | nindent 4 }}
  containers:
    - name: migrate
      image: {{ include "data-service.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["python", "-m", "app", "migrate"]
      env:
        - name: APP_DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: {{ .Values.storage.existingSecret }}
              key: {{ .Values.storage.urlKey }}
        - name: APP_DATABASE_TIMEOUT_SECONDS
          value: "30"
      securityContext:
        {{- include "data-service.containerSecurityContext" . | nindent 8 }}
      resources:
        {{- toYaml .Values.migrations.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
