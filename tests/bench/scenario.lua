-- One wrk script for every scenario; bench.py selects it with environment variables:
--   SCENARIO       health | product | search | order1 | order5 | summary
--   API_KEY        the key to send
--   PRODUCT_IDS    "first:last" range of seeded product ids
local report = dofile(os.getenv("BENCH_DIR") .. "/wrk_report.lua")

local scenario = os.getenv("SCENARIO")
local api_key = os.getenv("API_KEY") or ""
local first, last = string.match(os.getenv("PRODUCT_IDS") or "1:1", "(%d+):(%d+)")
first, last = tonumber(first), tonumber(last)

local words = { "wireless", "mouse", "keyboard", "usb", "cable", "lamp", "desk", "steel",
                "copper", "kettle", "wirel", "keyb", "organic", "cotton", "shirt", "blue" }

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

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed or os.time())
end

function request()
  local headers = { ["X-API-Key"] = api_key }
  if scenario == "health" then
    return wrk.format("GET", "/health", {})
  elseif scenario == "product" then
    return wrk.format("GET", "/api/v1/products/" .. product_id(), headers)
  elseif scenario == "search" then
    return wrk.format("GET", "/api/v1/products?limit=20&search=" .. words[math.random(#words)], headers)
  elseif scenario == "order1" or scenario == "order5" then
    headers["Content-Type"] = "application/json"
    local lines = scenario == "order1" and 1 or 5
    return wrk.format("POST", "/api/v1/orders", headers, order_body(lines))
  elseif scenario == "summary" then
    return wrk.format("GET", "/api/v1/reports/sales-summary", headers)
  end
  error("unknown SCENARIO " .. tostring(scenario))
end

function done(summary, latency, requests)
  report(summary, latency)
end
