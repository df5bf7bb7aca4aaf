-- A small non-streamed chat completion, the request of the throughput and latency rows.
-- Usage: wrk ... -s chat.lua <url> -- <model>
-- done() prints one machine-readable line that bench/run records:
--   BENCH requests=N seconds=S rps=R p50_us=X p99_us=Y errors=E connect=.. read=.. write=.. status=.. timeout=..

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

-- wrk calls init() in every thread before it formats the request, so the body set here is sent as one
-- pre-built request (no Lua call per request).
function init(args)
   local model = args[1] or "bench-fast"
   wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello."}],'
      .. '"max_tokens":8,"stream":false}'
end

function done(summary, latency, requests)
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.status + e.timeout
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d seconds=%.3f rps=%.1f p50_us=%.1f p99_us=%.1f errors=%d"
         .. " connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(99), errors,
      e.connect, e.read, e.write, e.status, e.timeout))
end
