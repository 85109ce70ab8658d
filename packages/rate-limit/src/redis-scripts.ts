/**
 * Why: a shared limit is only a limit if the read-decide-write of each decision is atomic across
 * every instance. A Lua script runs atomically inside Redis, in one round trip, and can take the
 * time from the server (`TIME`), so that clocks of the instances do not matter. These are the
 * local algorithms' formulas, term for term in the same order, so that given the same time Redis
 * decides exactly as the local limiter does (redis.test.ts checks it on random sequences).
 *
 * Both scripts reply 0 when the call is admitted, else the wait in microseconds rounded up
 * (an integer reply, cheap to parse; never 0). Keys get a TTL that ends when their state is back
 * to a fresh key's, so idle keys vanish and expiry loses nothing. An optional last argument
 * replaces the server time; only tests use it. Calling TIME before writing is fine from Redis 5
 * on, which replicates a script's effects (`redis.replicate_commands()` enables that on 3.2–4).
 */
import { createHash } from 'node:crypto';
import { SlidingWindow } from './sliding-window.js';
import type { RedisScriptArg } from './redis-client.js';
import type { KeyableLimiter } from './keyed-rate-limiter.js';

/** Lua that sets `now` (ms) from the server's clock, or from argument `n + 1` when given. */
function nowFrom(n: number): string {
  return `local now
if #ARGV > ${String(n)} then
  now = tonumber(ARGV[${String(n + 1)}])
else
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end`;
}

/**
 * Token bucket, leaky-bucket meter and GCRA: the virtual schedule of virtual-scheduling.ts.
 * KEYS[1]: the key, holding the theoretical arrival time. ARGV: cost, interval, horizon [, now].
 */
const SCHEDULE_SOURCE = `-- @proxykit/rate-limit: virtual scheduling (token bucket, leaky bucket, GCRA)
${nowFrom(3)}
local booked = tonumber(ARGV[1]) * tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat ~= nil then
  local allowAt = tat - (horizon - booked)
  if allowAt > now then
    local wait = math.ceil((allowAt - now) * 1000)
    if wait < 1 then wait = 1 end
    -- (checked the way a caller adds it to now: rounding must not leave it short)
    while now + wait / 1000 < allowAt do wait = wait + 1 end
    return wait
  end
  if tat < now then tat = now end
else
  tat = now
end
local booked_tat = tat + booked
-- (a booking too small to move tat still costs one unit in its last place: bookAfter)
if booked_tat == tat then booked_tat = tat + math.abs(tat) * 2.220446049250313e-16 end
tat = booked_tat
redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.max(1, math.ceil(tat - now)))
return 0
`;

/**
 * Sliding window: sliding-window.ts's buckets as a hash of bucket index → count.
 * KEYS[1]: the hash. ARGV: cost, limit, bucketMs, buckets [, now].
 */
const WINDOW_SOURCE = `-- @proxykit/rate-limit: sliding window in buckets that never lends
${nowFrom(4)}
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local bucketMs = tonumber(ARGV[3])
local buckets = tonumber(ARGV[4])
local index = math.floor(now / bucketMs)
local oldest = index - buckets
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
local counts = {}
local stale = {}
local current = false
for i = 1, #fields, 2 do
  local b = tonumber(fields[i])
  if b < oldest then
    stale[#stale + 1] = fields[i]
  else
    local c = tonumber(fields[i + 1])
    total = total + c
    counts[b] = c
    if b == index then current = true end
  end
end
if total + cost <= limit then
  redis.call('HINCRBY', KEYS[1], string.format('%.0f', index), cost)
  if not current then
    -- First write to this bucket: drop the buckets that left the window and extend the TTL to
    -- when this one leaves it. Later writes to the same bucket need neither.
    if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
    redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((index + buckets + 1) * bucketMs - now)))
  end
  return 0
end
-- The wait in whole microseconds until bucket target starts (checked the way it is computed).
local function untilBucket(target)
  local wait = math.ceil((target * bucketMs - now) * 1000)
  if wait < 1 then wait = 1 end
  while math.floor((now + wait / 1000) / bucketMs) < target do wait = wait + 1 end
  return wait
end
local need = total + cost - limit
local freed = 0
for k = 0, buckets do
  freed = freed + (counts[oldest + k] or 0)
  if freed >= need then return untilBucket(index + k + 1) end
end
return untilBucket(index + buckets + 1)
`;

/** @internal a script and how to call it for one limiter configuration */
export interface ScriptPlan {
  readonly source: string;
  readonly sha1: string;
  /** Arguments for a call of `cost` (the shared array when cost is 1), optionally at `now`. */
  args(cost: number, now?: number): readonly RedisScriptArg[];
}

function sha1Of(source: string): string {
  return createHash('sha1').update(source).digest('hex');
}

/** @internal the script that evaluates `limiter`'s algorithm, and its arguments */
export function scriptPlan(limiter: KeyableLimiter): ScriptPlan {
  let source: string;
  let rest: string[];
  if (limiter instanceof SlidingWindow) {
    source = WINDOW_SOURCE;
    rest = [String(limiter.limit), String(limiter.bucketMs), String(limiter.buckets)];
  } else {
    source = SCHEDULE_SOURCE;
    rest = [String(limiter.interval), String(limiter.horizon)];
  }
  const unit: readonly RedisScriptArg[] = Object.freeze(['1', ...rest]);
  return {
    source,
    sha1: sha1Of(source),
    args: (cost, now) => {
      if (now !== undefined) return [String(cost), ...rest, String(now)];
      return cost === 1 ? unit : [String(cost), ...rest];
    },
  };
}
