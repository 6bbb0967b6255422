-- Argo CD health of a VideoJob (video.oma.ai/v1alpha1), from the status the oma operator writes.
-- Paste into argocd-cm as resource.customizations.health.video.oma.ai_VideoJob (see argocd-cm.yaml).
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

local function message_of(kind, fallback)
  local c = condition(kind)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the oma operator to pick the job up"
  return hs
end

local phase = obj.status.phase
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation
    and phase ~= "Succeeded" and phase ~= "Failed" and phase ~= "Cancelled" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. tostring(obj.metadata.generation)
  return hs
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  local n = 0
  if obj.status.outputs ~= nil then
    n = #obj.status.outputs
  end
  hs.message = "Succeeded: " .. tostring(n) .. " verified output(s)"
elseif phase == "Failed" then
  hs.status = "Degraded"
  local f = obj.status.failure
  if f ~= nil then
    hs.message = (f.reason or "Failed") .. ": " .. (f.message or "")
  else
    hs.message = message_of("Failed", "Failed")
  end
elseif phase == "Cancelled" then
  -- spec.cancel is a deliberate, final state: nothing for Argo CD to fix.
  hs.status = "Healthy"
  hs.message = message_of("Cancelled", "Cancelled")
elseif phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = message_of("Suspended", "spec.suspend is true")
elseif phase == "Running" then
  hs.status = "Progressing"
  local p = obj.status.progress
  if p ~= nil and p.percent ~= nil then
    -- Argo CD's default sandbox has no string or math library: round with the % operator, join with "..".
    local pct = p.percent + 0.5
    pct = pct - pct % 1
    hs.message = "Running: " .. tostring(pct) .. "% (" .. (p.phase or "Encoding") .. ")"
  else
    hs.message = message_of("Running", "Running")
  end
else
  -- Pending, Queued: the condition says why (queue position, missing stack).
  hs.status = "Progressing"
  hs.message = message_of("Queued", phase)
end
return hs
