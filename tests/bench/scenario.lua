-- One wrk script for every scenario; bench.py selects it with environment variables:
--   SCENARIO       bare | health | product | search | order1 | order5 | soldout | summary
--                  (soldout: one-line orders of a product with no stock, each refused 409)
--   API_KEY        the key to send
--   BEARER_TOKEN   an access token to send instead of the key (when not empty)
--   PRODUCT_IDS    "first:last" range of seeded product ids
local report = dofile(os.getenv("BENCH_DIR") .. "/wrk_report.lua")

local scenario = os.getenv("SCENARIO")
local api_key = os.getenv("API_KEY") or ""
local bearer_token = os.getenv("BEARER_TOKEN") or ""
local first, last = string.match(os.getenv("PRODUCT_IDS") or "1:1", "(%d+):(%d+)")
first, last = tonumber(first), tonumber(last)

-- What shoppers type: a noun, an adjective or material, two words, or a prefix while
-- typing (the catalog bench.py seeds uses these words).
local words = { "mouse", "keyboard", "kettle", "lamp", "backpack", "headphones", "blanket",
                "umbrella", "watch", "tent", "wireless", "ergonomic", "vintage", "leather",
                "bamboo", "ceramic", "wireless%20mouse", "navy%20jacket", "steel%20bottle",
                "keyb", "head", "umbr", "BENCH-0042" }

local function product_id()
  return math.random(first, last)
end

local function order_body(lines)
  local items = {}
  local used = {}
  while #items < lines do
    local id = product_id()
    if not used[id] then
      used[id] = true
      items[#items + 1] = string.format('{"product_id":%d,"quantity":1}', id)
    end
  end
  return '{"customer_name":"Bench","customer_email":"bench@example.com","items":['
    .. table.concat(items, ",") .. ']}'
end

local threads = {}

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(seed or os.time())
  unexpected = 0
end

-- The bare scenario expects 405 and the sold-out one 409 (wrk would count every one as
-- an error): count the answers that are not the expected status instead.
local expected_status = ({ bare = 405, soldout = 409 })[scenario]
if expected_status then
  function response(status, headers, body)
    if status ~= expected_status then
      unexpected = unexpected + 1
    end
  end
end

function request()
  local headers = { ["X-API-Key"] = api_key }
  if bearer_token ~= "" then
    headers = { ["Authorization"] = "Bearer " .. bearer_token }
  end
  if scenario == "bare" then
    -- A wrong method on a public path: the guest answers 405 without touching the
    -- database, so this measures the host and the component alone.
    return wrk.format("POST", "/health", {})
  elseif scenario == "health" then
    return wrk.format("GET", "/health", {})
  elseif scenario == "product" then
    return wrk.format("GET", "/api/v1/products/" .. product_id(), headers)
  elseif scenario == "search" then
    return wrk.format("GET", "/api/v1/products?limit=20&search=" .. words[math.random(#words)], headers)
  elseif scenario == "order1" or scenario == "order5" or scenario == "soldout" then
    headers["Content-Type"] = "application/json"
    local lines = scenario == "order5" and 5 or 1
    return wrk.format("POST", "/api/v1/orders", headers, order_body(lines))
  elseif scenario == "summary" then
    return wrk.format("GET", "/api/v1/reports/sales-summary", headers)
  end
  error("unknown SCENARIO " .. tostring(scenario))
end

function done(summary, latency, requests)
  local status_errors = summary.errors.status
  if expected_status then
    status_errors = 0
    for _, thread in ipairs(threads) do
      status_errors = status_errors + thread:get("unexpected")
    end
  end
  report(summary, latency, status_errors)
end
