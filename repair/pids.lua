-- pids.lua [root=PID]: kill the processes that hold the pid space.
--
-- What it changes: what kill.lua changes (SIGKILL into each thread's own
-- pending set, then TIF_SIGPENDING) for every thread of the holders: the
-- largest family of processes sharing a command name (at least 16), or
-- root=PID and everything below it. Each pid comes back when its task is
-- reaped.
--
-- Why that is safe and why this way: kill()'s guards keep a reused
-- task_struct from being hit, and it refuses init, kernel threads and
-- unkillable tasks. Raising pid_max would give headroom but repair
-- nothing (and silence watch's threshold). Holders asleep (in pause(),
-- say) keep their pids until something wakes them: they are reported as
-- pending until woken.
local hogs = use("hogs")
needs = hogs.needing()

local MIN_HOLDERS = 16
local USAGE = "pids.lua [root=PID]"
local holders, holder_comm

local function find(args, procs)
  local o = hogs.args(args, USAGE, { root = true })
  holders, holder_comm = hogs.find_family(o, procs, MIN_HOLDERS, "pid hog")
end

function plan(args)
  local procs = hogs.processes()
  if not holders then find(args, procs) end
  local n = 0
  for _, p in pairs(procs) do
    if hogs.is(holders, p) then
      hogs.kill_process(p, "holds pids")
      n = n + 1
    end
  end
  note(n .. " process(es) of " .. holder_comm .. " hold pids")
end

function verify(args)
  local procs = hogs.processes()
  if not holders then find(args, procs) end
  return hogs.verdict(holders, "pid-holding", procs)
end
