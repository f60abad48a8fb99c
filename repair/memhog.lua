-- memhog.lua [PID] [min=PERCENT]: kill the process that holds the memory,
-- and the processes below it that share its name.
--
-- What it changes: what kill.lua changes (SIGKILL into each thread's own
-- pending set, then TIF_SIGPENDING), for the process with the largest
-- resident set as the mm's counters give it (file, anon and shmem pages),
-- or PID, and its descendants of the same name (a hog that forked). Its
-- memory comes back when its threads next return to user mode and exit.
--
-- Why that is safe and why this way: kill()'s guards keep a reused
-- task_struct from being hit, and it refuses init, kernel threads and
-- unkillable tasks. Writing oom_score_adj would start nothing: the OOM
-- killer runs only when an allocation fails, and a persistent hog holds its
-- memory just below that point, so the machine crawls and nothing is
-- killed. Without PID the largest process must hold at least min percent
-- of RAM (default 20), so that a machine without a hog loses nothing.
local hogs = use("hogs")
needs = hogs.needing()

local USAGE = "memhog.lua [PID] [min=PERCENT]"
local victims, victim_comm

local function find(args, procs)
  local o = hogs.args(args, USAGE, { pid = true, min = true })
  local top
  if o.pid then
    top = procs[o.pid] or error("no process " .. o.pid)
  else
    for _, p in pairs(procs) do
      if p.rss and (not top or p.rss > top.rss) then top = p end
    end
    local total = kernel.value(kernel.sym("_totalram_pages", "long int"))
    local min = o.min or 20
    if not top or top.rss * 100 < total * min then
      error("no process holds " .. min .. "% of RAM" ..
            (top and ("; the largest, " .. top.comm .. " (" .. top.tgid .. "), holds " ..
                      top.rss * 4 // 1024 .. " MiB") or ""))
    end
  end
  local set = {}
  for tgid in pairs(hogs.family(procs, top.tgid)) do
    if tgid == top.tgid or procs[tgid].comm == top.comm then set[tgid] = true end
  end
  victims, victim_comm = hogs.pin(set, procs), top.comm
end

function plan(args)
  local procs = hogs.processes()
  if not victims then find(args, procs) end
  for tgid in pairs(victims) do
    local p = procs[tgid]
    if hogs.is(victims, p) then
      hogs.kill_process(p, "holds " .. (p.rss or 0) * 4 // 1024 .. " MiB resident")
    end
  end
  note("memory hog: " .. victim_comm)
end

function verify(args)
  local procs = hogs.processes()
  if not victims then find(args, procs) end
  return hogs.verdict(victims, "memory hog", procs)
end
