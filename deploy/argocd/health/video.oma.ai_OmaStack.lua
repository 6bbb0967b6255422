-- Argo CD health of an OmaStack (video.oma.ai/v1alpha1), from its Ready condition.
-- Paste into argocd-cm as resource.customizations.health.video.oma.ai_OmaStack (see argocd-cm.yaml).
-- Runs in Argo CD's default sandbox (base, table, package, os.time/os.date): no string, no math, no io.
local hs = {}

local function condition(kind)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == kind then
        return c
      end
    end
  end
  return nil
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the oma operator to reconcile the stack"
  return hs
end
if obj.metadata.generation ~= nil and (obj.status.observedGeneration == nil
    or obj.status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to roll out generation " .. tostring(obj.metadata.generation)
  return hs
end

local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  local monitoring = condition("MonitoringReady")
  if monitoring ~= nil and monitoring.status == "False" and monitoring.reason ~= "Disabled" then
    hs.message = hs.message .. "; monitoring: " .. (monitoring.message or monitoring.reason)
  end
elseif ready.reason == "ComponentsNotReady" then
  -- Pods starting or rolling. After 10 minutes without becoming ready the operator says
  -- ProgressDeadlineExceeded instead (an image that does not pull, a PVC that does not bind): Degraded below.
  hs.status = "Progressing"
  hs.message = ready.message or "Components not ready"
else
  -- ReconcileFailed, ProgressDeadlineExceeded and anything else the operator cannot fix by waiting.
  hs.status = "Degraded"
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
end
return hs
